"""Vectors of :data:`LANES` doubles for numba kernels: loads, stores and arithmetic that compile to
single SIMD instructions (one AVX-512 register), whatever numba's loop vectoriser would do.

numba turns off LLVM's SLP vectoriser, and its loop vectoriser pays run-time alias checks each time
it enters a loop, so a kernel that does a pair's arithmetic for a block of 8 individuals at once
(a loop of 8 inside each pair) gained little from it. These intrinsics write the vector operations
out: a value is a ``UniTuple(float64, LANES)`` (LLVM keeps it in a register), :func:`vload` and
:func:`vstore` move LANES consecutive doubles of a C-contiguous float64 array at a flat element
index, and :func:`vadd`, :func:`vsub`, :func:`vmul`, :func:`vdiv` take two vectors or a vector and
a float (broadcast). Each lane gets the one IEEE operation the scalar code would do (no fused
multiply-add, no reassociation), so a lane's numbers equal those of a scalar loop written with the
same expressions, bit for bit. For compiled code only (numba required); no bounds checks.
"""

from __future__ import annotations

try:
    from llvmlite import ir
    from numba.core import types
    from numba.core.errors import TypingError
    from numba.extending import intrinsic
except ImportError:  # pragma: no cover - numba is optional
    intrinsic = None

#: doubles per vector
LANES = 8

if intrinsic is not None:
    _DBL = ir.DoubleType()
    _VEC = ir.VectorType(_DBL, LANES)
    _I32 = ir.IntType(32)
    #: the numba type of a vector
    VECTOR = types.UniTuple(types.float64, LANES)

    def _is_vector(ty) -> bool:
        return isinstance(ty, types.UniTuple) and ty.count == LANES and ty.dtype == types.float64

    def _operand(ty) -> None:
        if not (_is_vector(ty) or isinstance(ty, types.Float | types.Integer)):
            raise TypingError(f"a lane operand is a vector of {LANES} float64 or a number, not {ty}")

    def _array(ty) -> None:
        if not (isinstance(ty, types.Array) and ty.dtype == types.float64 and ty.layout == "C"):
            raise TypingError(f"lanes load and store C-contiguous float64 arrays, not {ty}")

    def _to_vec(context, builder, value, ty):
        """An LLVM vector of a lanes tuple, or of a number broadcast."""
        if _is_vector(ty):
            vec = ir.Constant(_VEC, ir.Undefined)
            for k in range(LANES):
                vec = builder.insert_element(vec, builder.extract_value(value, k), ir.Constant(_I32, k))
            return vec
        one = context.cast(builder, value, ty, types.float64)
        vec = builder.insert_element(ir.Constant(_VEC, ir.Undefined), one, ir.Constant(_I32, 0))
        return builder.shuffle_vector(vec, ir.Constant(_VEC, ir.Undefined),
                                      ir.Constant(ir.VectorType(_I32, LANES), [0] * LANES))

    def _to_tuple(builder, vec):
        agg = ir.Constant(ir.ArrayType(_DBL, LANES), ir.Undefined)
        for k in range(LANES):
            agg = builder.insert_value(agg, builder.extract_element(vec, ir.Constant(_I32, k)), k)
        return agg

    def _binary(name: str):
        def typer(typingctx, a, b):
            _operand(a)
            _operand(b)
            if not (_is_vector(a) or _is_vector(b)):
                raise TypingError("a lane operation needs a vector operand")

            def codegen(context, builder, sig, args):
                va = _to_vec(context, builder, args[0], sig.args[0])
                vb = _to_vec(context, builder, args[1], sig.args[1])
                return _to_tuple(builder, getattr(builder, name)(va, vb))

            return VECTOR(a, b), codegen

        typer.__name__ = f"v{name[1:]}"
        return intrinsic(typer)

    vadd = _binary("fadd")
    vsub = _binary("fsub")
    vmul = _binary("fmul")
    vdiv = _binary("fdiv")

    def _pointer(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        index = context.cast(builder, args[1], sig.args[1], types.intp)
        return builder.bitcast(builder.gep(ary.data, [index]), _VEC.as_pointer())

    @intrinsic
    def vload(typingctx, arr, index):
        """The LANES doubles of ``arr`` (C-contiguous) from flat element ``index`` on."""
        _array(arr)

        def codegen(context, builder, sig, args):
            return _to_tuple(builder, builder.load(_pointer(context, builder, sig, args), align=8))

        return VECTOR(arr, index), codegen

    @intrinsic
    def vstore(typingctx, arr, index, value):
        """Write the vector (or number, broadcast) ``value`` at flat element ``index`` of ``arr``."""
        _array(arr)
        _operand(value)

        def codegen(context, builder, sig, args):
            vec = _to_vec(context, builder, args[2], sig.args[2])
            builder.store(vec, _pointer(context, builder, sig, args), align=8)
            return context.get_dummy_value()

        return types.none(arr, index, value), codegen
