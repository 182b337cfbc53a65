"""The loops that cannot be vectorised, compiled with numba: the strategy's per-symbol state
machine (holding periods and cooldowns depend on the path) and the portfolio simulation
(a trade's size depends on the equity its earlier trades left). Both run over a bars x
symbols matrix; both are what every engine and every sweep configuration executes, so
they are the place where compiling pays (a sweep runs them thousands of times).

Numbers follow bt exactly: a rebalance sizes each changed symbol against the portfolio
value before the bar's trades, closes first, and solves the shares of an order with bt's
own fixed-point iteration so that shares x price + costs = the amount allocated.

The strategy pass and one bar's rebalance are each written once and shared by three
drivers: ``strategy_weights`` (the weights matrix every engine is fed), ``simulate`` (the
vector engine) and ``sweep_equity`` (both fused into one pass with no bars x symbols
intermediates, for sweeps: many configurations on the same signal advance together).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numba import njit

TOL = 1e-16  # bt's is_zero
ATOL = 1e-8  # np.isclose's default absolute tolerance, which bt's share solver stops at


@njit(cache=True, nogil=True)
def order_cost(quantity, price, per_share, min_order, max_pct, slippage_bps):
    """IB's tiered commission (per share, with a minimum and a maximum share of the value)
    plus slippage, for one order: the formula behind backtests.costs.CostModel."""
    shares = abs(quantity)
    if shares == 0.0:
        return 0.0
    value = shares * price
    commission = min(max(shares * per_share, min_order), value * max_pct)
    return commission + abs(quantity) * price * slippage_bps / 10_000


@njit(cache=True, nogil=True)
def order_costs(quantity, price, per_share, min_order, max_pct, slippage_bps):
    """order_cost over arrays of orders."""
    out = np.empty(quantity.shape[0])
    for i in range(quantity.shape[0]):
        out[i] = order_cost(quantity[i], price[i], per_share, min_order, max_pct, slippage_bps)
    return out


@njit(cache=True, nogil=True)
def solve_shares(amount, price, per_share, min_order, max_pct, slippage_bps):
    """Shares whose outlay (shares x price + cost) equals ``amount``: bt's SecurityBase.allocate."""
    q = amount / price
    if q == 0.0:
        return 0.0
    outlay = q * price + order_cost(q, price, per_share, min_order, max_pct, slippage_bps)
    last_short = outlay - amount
    i = 0
    while not abs(outlay - amount) <= ATOL + TOL * abs(amount) and q != 0.0:
        q = q - (outlay - amount) / price
        outlay = q * price + order_cost(q, price, per_share, min_order, max_pct, slippage_bps)
        i += 1
        if i > 10_000 or abs(outlay - amount) > abs(last_short):
            break  # bt raises here; the strategy's costs never get there (tested against bt)
        last_short = outlay - amount
    return q


@njit(cache=True, nogil=True, inline="always")
def _mark(prices_row, shares, cash):
    value = cash
    for j in range(shares.shape[0]):
        if shares[j] != 0.0:
            value += shares[j] * prices_row[j]
    return value


@njit(cache=True, nogil=True, inline="always")
def _rebalance(prices_row, changed, targets, shares, cash, per_share, min_order, max_pct, slippage_bps):
    """One bar's trades: every ``changed`` symbol to its ``targets`` weight of the value
    before the trades (closes first, then the rest in column order). Returns the cash."""
    base = _mark(prices_row, shares, cash)
    n = shares.shape[0]
    for j in range(n):
        if changed[j] and abs(targets[j]) < TOL and shares[j] != 0.0:
            q = -shares[j]
            cash -= q * prices_row[j] + order_cost(q, prices_row[j], per_share, min_order, max_pct, slippage_bps)
            shares[j] = 0.0
    for j in range(n):
        w = targets[j]
        if not changed[j] or abs(w) < TOL:
            continue
        p = prices_row[j]
        current = shares[j] * p
        amount = (w - current / base) * base
        if abs(amount) < TOL:
            continue
        if abs(amount + current) < TOL:
            q = -shares[j]
        else:
            q = solve_shares(amount, p, per_share, min_order, max_pct, slippage_bps)
        if q == 0.0:
            continue
        cash -= q * p + order_cost(q, p, per_share, min_order, max_pct, slippage_bps)
        shares[j] += q
    return cash


@njit(cache=True, nogil=True, inline="always")
def _borrow(prices_row, shares, rate):
    """What this bar's short positions pay to be borrowed: their value x the per-bar rate."""
    owed = 0.0
    if rate > 0.0:
        for j in range(shares.shape[0]):
            if shares[j] < 0.0:
                owed -= shares[j] * prices_row[j] * rate
    return owed


@njit(cache=True, nogil=True)
def simulate(prices, changes, capital, per_share, min_order, max_pct, slippage_bps, borrow_rate=0.0):
    """Portfolio value and shares held after each bar.

    prices: bars x symbols fill prices (NaN before a symbol's first bar); changes: bars x
    symbols new target weights where a target changes, NaN elsewhere; borrow_rate: what a
    short position pays each bar, as a share of its value (after the bar's trades).
    """
    n_bars, n_symbols = prices.shape
    shares = np.zeros(n_symbols)
    held = np.zeros((n_bars, n_symbols))
    equity = np.empty(n_bars)
    changed = np.zeros(n_symbols, dtype=np.bool_)
    cash = capital
    for t in range(n_bars):
        any_change = False
        for j in range(n_symbols):
            changed[j] = changes[t, j] == changes[t, j]
            any_change = any_change or changed[j]
        if any_change:
            cash = _rebalance(prices[t], changed, changes[t], shares, cash, per_share, min_order, max_pct, slippage_bps)
        cash -= _borrow(prices[t], shares, borrow_rate)
        equity[t] = _mark(prices[t], shares, cash)
        held[t, :] = shares
    return equity, held


class KernelParams(NamedTuple):
    """The strategy's parameters as the compiled kernels read them. Made once at the edge by
    backtests.strategy.kernel_params from a StrategyParams; ``params_rows`` lays several of
    them out as the matrix the kernels take (one row each, the columns in this order)."""

    long_threshold: float
    short_threshold: float
    use_short: bool
    min_confidence: float
    min_hold: int
    max_hold: int  # < 0: no maximum
    cooldown: int
    confidence_sizing: bool
    size: float
    full_size_confidence: float
    max_weight: float
    max_gross: float
    flat_at_close: bool


# the matrix's columns, named for the compiled kernel (numba reads module-level integers as
# constants, not a dict or a tuple's fields): KernelParams' fields, in their order
(LONG_THRESHOLD, SHORT_THRESHOLD, USE_SHORT, MIN_CONFIDENCE, MIN_HOLD, MAX_HOLD, COOLDOWN, CONFIDENCE_SIZING, SIZE,
 FULL_SIZE_CONFIDENCE, MAX_WEIGHT, MAX_GROSS, FLAT_AT_CLOSE) = range(len(KernelParams._fields))  # fmt: skip


def params_rows(params: Sequence[KernelParams]) -> np.ndarray:
    """configurations x fields: what _strategy_pass reads (every field is exact as a float)."""
    return np.array(params, dtype=np.float64).reshape(len(params), len(KernelParams._fields))


@njit(cache=True, nogil=True)
def _strategy_pass(signal, confidence, has_bar, last_of_session, last_bar, prices, capital, rates, params, keep_weights,
                   trade):  # fmt: skip
    """The strategy over the bars, once, for every configuration in ``params`` (a
    params_rows matrix): each symbol's decision made on its previous bar is filled on this
    one (a per-symbol state machine), then the gross cap; with ``trade``, the bar's
    rebalance and mark too. One function (not a helper per step) because numba keeps this
    loop 6x faster when its state lives in one frame.

    The configurations advance together, bar by bar: a symbol's bar is read once and every
    configuration's state machine steps on it. They share the signal, so their branches go
    the same way far more often than one configuration's do from one symbol to the next;
    a sweep runs 1.6-2x faster per configuration this way (benchmarks/backtest_bench.py).

    signal[t, j] is what the thresholds compare (a probability, or a raw score for quantile
    thresholds; NaN: no decision); confidence[t, j] in [0, 1] gates and sizes entries;
    last_bar[t, j] marks a symbol's final bar before the panel ends (a delisting): its
    position is closed there and nothing is entered. ``rates`` are the cost model's four rates
    and the per-bar borrow rate of short positions.

    Returns the weights held after each bar's fill and the sides (bars x symbols, of the
    first configuration, when ``keep_weights``), and each configuration's equity curve and
    number of entries (when ``trade``).
    """
    per_share, min_order, max_pct, slippage_bps, borrow_rate = rates
    n_bars, n_symbols = signal.shape
    n_configs = params.shape[0]
    long_threshold = params[:, LONG_THRESHOLD].copy()
    short_threshold = params[:, SHORT_THRESHOLD].copy()
    use_short = params[:, USE_SHORT] != 0.0
    min_confidence = params[:, MIN_CONFIDENCE].copy()
    min_hold = params[:, MIN_HOLD].astype(np.int64)
    max_hold = params[:, MAX_HOLD].astype(np.int64)
    cooldown = params[:, COOLDOWN].astype(np.int64)
    confidence_sizing = params[:, CONFIDENCE_SIZING] != 0.0
    size = params[:, SIZE].copy()
    full_size_confidence = params[:, FULL_SIZE_CONFIDENCE].copy()
    max_weight = params[:, MAX_WEIGHT].copy()
    max_gross = params[:, MAX_GROSS].copy()
    flat_at_close = params[:, FLAT_AT_CLOSE] != 0.0

    rows = n_bars if keep_weights else 0
    out = np.zeros((rows, n_symbols))
    sides = np.zeros((rows, n_symbols), dtype=np.int8)
    equity = np.empty((n_configs, n_bars if trade else 0))
    side = np.zeros((n_configs, n_symbols), dtype=np.int64)
    raw = np.zeros((n_configs, n_symbols))  # weight wanted at entry, before the cap
    held_w = np.zeros((n_configs, n_symbols))  # weight held after the cap
    entry = np.full((n_configs, n_symbols), -1, dtype=np.int64)  # the symbol's bar number of its entry fill
    blocked_until = np.full((n_configs, n_symbols), -1, dtype=np.int64)  # no entry filled on or before this bar number
    changed = np.zeros((n_configs, n_symbols), dtype=np.bool_)
    shares = np.zeros((n_configs, n_symbols))
    entries = np.zeros(n_configs, dtype=np.int64)
    cash = np.full(n_configs, capital)
    previous = np.full(n_symbols, -1, dtype=np.int64)  # the row of its previous bar: the decision filled now
    count = np.zeros(n_symbols, dtype=np.int64)  # bars the symbol has had
    before = np.zeros(n_symbols)
    moved = np.zeros(n_symbols, dtype=np.bool_)
    for t in range(n_bars):
        for j in range(n_symbols):
            for k in range(n_configs):
                changed[k, j] = False
            if not has_bar[t, j]:
                continue
            if previous[j] >= 0:
                fill = count[j]
                s = signal[previous[j], j]
                c = confidence[previous[j], j]
                has_s = s == s
                for k in range(n_configs):
                    desired = 0
                    if has_s and c >= min_confidence[k]:
                        if s >= long_threshold[k]:
                            desired = 1
                        elif use_short[k] and s <= short_threshold[k]:
                            desired = -1
                    forced_flat = (flat_at_close[k] and last_of_session[t, j]) or last_bar[t, j]
                    exited = 0
                    if side[k, j] != 0:
                        held = fill - entry[k, j]
                        if (forced_flat or (max_hold[k] >= 0 and held >= max_hold[k])
                                or (desired != side[k, j] and held >= min_hold[k])):  # fmt: skip
                            exited = side[k, j]
                            side[k, j] = 0
                            raw[k, j] = 0.0
                            blocked_until[k, j] = fill + cooldown[k]
                            changed[k, j] = True
                    # no entry on the fill that exited, except a reversal when there is no cooldown
                    may_enter = fill > blocked_until[k, j] or (cooldown[k] == 0 and exited != 0 and desired == -exited)
                    if side[k, j] == 0 and desired != 0 and not forced_flat and may_enter:
                        side[k, j] = desired
                        entry[k, j] = fill
                        scale = 1.0
                        if confidence_sizing[k]:
                            scale = min(1.0, c / full_size_confidence[k])
                        raw[k, j] = desired * min(size[k] * scale, max_weight[k])
                        changed[k, j] = True
            previous[j] = t
            count[j] += 1
        for k in range(n_configs):
            # the gross cap: exits free room first; entries share what is left, pro rata
            room = max_gross[k]
            wanted = 0.0
            for j in range(n_symbols):
                before[j] = held_w[k, j]
                if changed[k, j]:
                    held_w[k, j] = 0.0
            for j in range(n_symbols):
                room -= abs(held_w[k, j])
                if changed[k, j]:
                    wanted += abs(raw[k, j])
            room = max(room, 0.0)
            scale = min(1.0, room / wanted) if wanted > 0.0 else 1.0
            any_move = False
            for j in range(n_symbols):
                if changed[k, j] and raw[k, j] != 0.0:
                    held_w[k, j] = raw[k, j] * scale
                if keep_weights and k == 0:
                    out[t, j] = held_w[k, j]
                    sides[t, j] = side[k, j]
                # what the engines see: a change where the held weight moved on one of the symbol's bars
                moved[j] = has_bar[t, j] and held_w[k, j] != before[j]
                any_move = any_move or moved[j]
                if moved[j] and before[j] == 0.0:
                    entries[k] += 1
            if trade:
                if any_move:
                    cash[k] = _rebalance(prices[t], moved, held_w[k], shares[k], cash[k], per_share, min_order, max_pct,
                                         slippage_bps)  # fmt: skip
                cash[k] -= _borrow(prices[t], shares[k], borrow_rate)
                equity[k, t] = _mark(prices[t], shares[k], cash[k])
    return out, sides, equity, entries


def strategy_weights(signal, confidence, has_bar, last_of_session, last_bar, p: KernelParams):
    """Target weight held from each bar's fill on (bars x symbols), after the gross cap, and
    the side (-1/0/1) the state machine is in.

    signal[t, j] is the decision input on symbol j's bar t (NaN: no prediction); it is filled
    on the symbol's next bar. Weights are carried over bars a symbol does not have.
    """
    out, sides, _, _ = _strategy_pass(
        signal, confidence, has_bar, last_of_session, last_bar, np.empty((0, signal.shape[1])), 0.0,
        (0.0, 0.0, 0.0, 0.0, 0.0), params_rows([p]), True, False,
    )  # fmt: skip
    return out, sides


def sweep_equity(signal, confidence, has_bar, last_of_session, last_bar, prices, capital, rates,
                 params: Sequence[KernelParams]):  # fmt: skip
    """strategy_weights then simulate in one pass, for several configurations on the same
    signal and fill prices: their equity curves (configurations x bars) and entries."""
    _, _, equity, entries = _strategy_pass(
        signal, confidence, has_bar, last_of_session, last_bar, prices, capital, rates, params_rows(params), False,
        True,
    )  # fmt: skip
    return equity, entries
