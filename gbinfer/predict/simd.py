"""Four-wide float64 steps of the TreeSHAP quadrature, written as LLVM vector code.

Numba leaves LLVM's SLP vectoriser off (it miscompiled elsewhere), and its loop vectoriser does
not take loops of four, so four points' arithmetic would stay scalar. These intrinsics emit the
vector loads, products and stores themselves (written by hand: no maintained library offers
them for Numba); the arithmetic is the scalar code's, point by point, in the same order, so
the values are the same. Indices count elements, not vectors; arrays are contiguous and
one-dimensional; float32 operands are widened to float64 exactly.
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

_V4D = ir.VectorType(ir.DoubleType(), 4)


def _pointer(context, builder, array_type, array, index):
    data = context.make_array(array_type)(context, builder, array).data
    element = builder.gep(data, [index])
    return builder.bitcast(element, ir.VectorType(element.type.pointee, 4).as_pointer())


def _load(context, builder, array_type, array, index):
    value = builder.load(_pointer(context, builder, array_type, array, index), align=array_type.dtype.bitwidth // 8)
    return builder.fpext(value, _V4D) if array_type.dtype == types.float32 else value


def _store(context, builder, array_type, array, index, value):
    builder.store(value, _pointer(context, builder, array_type, array, index), align=8)


def _splat(builder, scalar):
    vector = ir.Constant(_V4D, ir.Undefined)
    for i in range(4):
        vector = builder.insert_element(vector, scalar, ir.Constant(ir.IntType(32), i))
    return vector


@intrinsic
def step_down(typingctx, P, parent, child, table, at, cold, ratio, value):
    """``P[child + m] = P[parent + m] * (ratio if cold else table[at + m]) * value``, m < 4."""
    sig = types.void(P, parent, child, table, at, cold, ratio, value)

    def codegen(context, builder, signature, args):
        P_, parent_, child_, table_, at_, cold_, ratio_, value_ = args
        P_type, table_type = signature.args[0], signature.args[3]
        # ratio * cold + table * (1 - cold), cold 0 or 1: exactly one of the two (the table's
        # values are finite), without a branch; a select here becomes one, on an unpredictable
        # condition, to skip the load
        cold = builder.uitofp(cold_, ir.DoubleType())
        hot = builder.fsub(ir.Constant(ir.DoubleType(), 1.0), cold)
        factor = builder.fadd(builder.fmul(_splat(builder, ratio_), _splat(builder, cold)),
                              builder.fmul(_load(context, builder, table_type, table_, at_), _splat(builder, hot)))
        product = builder.fmul(_load(context, builder, P_type, P_, parent_), factor)
        _store(context, builder, P_type, P_, child_, builder.fmul(product, _splat(builder, value_)))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def step_up(typingctx, lanes, acc, table, wa, keep_a, wb, keep_b, P, a, b, c):
    """With ``A = P[a + m]``, ``B = P[b + m]``, m < 4: ``lanes[acc + m] += table[wa + m] * keep_a
    * A + table[wb + m] * keep_b * B`` and ``P[c + m] = A + B``."""
    sig = types.void(lanes, acc, table, wa, keep_a, wb, keep_b, P, a, b, c)

    def codegen(context, builder, signature, args):
        lanes_, acc_, table_, wa_, keep_a_, wb_, keep_b_, P_, a_, b_, c_ = args
        lanes_type, table_type, P_type = signature.args[0], signature.args[2], signature.args[7]
        below_a = _load(context, builder, P_type, P_, a_)
        below_b = _load(context, builder, P_type, P_, b_)
        weight_a = builder.fmul(_load(context, builder, table_type, table_, wa_), _splat(builder, keep_a_))
        weight_b = builder.fmul(_load(context, builder, table_type, table_, wb_), _splat(builder, keep_b_))
        value = builder.fadd(builder.fmul(weight_a, below_a), builder.fmul(weight_b, below_b))
        total = builder.fadd(_load(context, builder, lanes_type, lanes_, acc_), value)
        _store(context, builder, lanes_type, lanes_, acc_, total)
        _store(context, builder, P_type, P_, c_, builder.fadd(below_a, below_b))
        return context.get_dummy_value()

    return sig, codegen
