{#- The recursive indicators: exponential (EMA) and Wilder smoothing, seeded
    exactly as TA-Lib seeds them, in one pass over each series that steps every
    state at once (smoothed_series: a recursive CTE, one step per bar for all
    series, or on Spark a fold over arrays of bars; one pass with many states
    beats many passes). An incremental table on DuckDB (dbt_project.yml).

    Every state s follows the same pattern at bar i of the series:
        i <  seed_at   null (not enough bars yet)
        i =  seed_at   the seed: a plain average (or sum) of the first values
        i >  seed_at   s[i-1] smoothed towards today's value
    The step formulas keep TA-Lib's order of operations, so values agree to the
    last bits. int_trend, int_momentum and int_volatility turn these states into
    indicators. -#}

{%- set ema_n = var('ema_window') %}
{%- set fast = var('macd_fast') %}
{%- set slow = var('macd_slow') %}
{%- set signal = var('macd_signal') %}
{%- set rsi_n = var('rsi_window') %}
{%- set atr_n = var('atr_window') %}
{%- set adx_n = var('adx_window') %}
{%- for name, n in [
    ('ema_window', ema_n), ('macd_fast', fast), ('macd_signal', signal),
    ('rsi_window', rsi_n), ('atr_window', atr_n), ('adx_window', adx_n),
] %}
    {%- if n < 2 %}
        {{- exceptions.raise_compiler_error(
            "var " ~ name ~ " must be at least 2, got " ~ n
        ) }}
    {%- endif %}
{%- endfor %}
{%- if slow <= fast %}
    {{- exceptions.raise_compiler_error(
        "var macd_slow must exceed macd_fast, got " ~ slow ~ " <= " ~ fast
    ) }}
{%- endif %}

with

bars as (

    {{ bars_to_compute(ref('int_bars')) }}

),

moves as (

    select
        symbol,
        bar_size,
        ts,
        bar_seq,
        write_from_seq,
        ingested_at,
        high,
        low,
        close,
        -- position within the bars read: recursion seeds count from the first
        bar_seq - min(bar_seq) over (partition by symbol, bar_size) as i,
        lag(close) {{ series_order() }} as prev_close,
        high - lag(high) {{ series_order() }} as up_move,
        lag(low) {{ series_order() }} - low as down_move
    from bars

),

inputs as (

    select
        *,
        -- RSI: the bar's gain or loss against the previous close
        case
            when close - prev_close < 0 then 0 else close - prev_close
        end as gain,
        case
            when close - prev_close < 0 then prev_close - close else 0
        end as loss,
        -- true range: the bar's range widened to the previous close
        greatest(
            high - low, abs(high - prev_close), abs(low - prev_close)
        ) as true_range,
        -- directional movement (ADX): only the larger of the two moves counts
        case
            when down_move > 0 and up_move < down_move then down_move else 0
        end as minus_dm,
        case
            when up_move > 0 and up_move > down_move then up_move else 0
        end as plus_dm
    from moves

),

seeded as (

    select
        *,
        avg(close) over ema_seed_bars as ema_seed,
        avg(close) over fast_seed_bars as ema_fast_seed,
        avg(close) over slow_seed_bars as ema_slow_seed,
        avg(gain) over rsi_seed_bars as avg_gain_seed,
        avg(loss) over rsi_seed_bars as avg_loss_seed,
        avg(true_range) over atr_seed_bars as atr_seed,
        -- ADX starts from sums over its first n - 1 moves (TA-Lib), not
        -- averages
        sum(plus_dm) over adx_seed_bars as plus_dm_seed,
        sum(minus_dm) over adx_seed_bars as minus_dm_seed,
        sum(true_range) over adx_seed_bars as adx_tr_seed
    from inputs
    window
        ema_seed_bars as (
            partition by symbol, bar_size order by i
            rows between {{ ema_n - 1 }} preceding and current row
        ),
        fast_seed_bars as (
            partition by symbol, bar_size order by i
            rows between {{ fast - 1 }} preceding and current row
        ),
        slow_seed_bars as (
            partition by symbol, bar_size order by i
            rows between {{ slow - 1 }} preceding and current row
        ),
        rsi_seed_bars as (
            partition by symbol, bar_size order by i
            rows between {{ rsi_n - 1 }} preceding and current row
        ),
        atr_seed_bars as (
            partition by symbol, bar_size order by i
            rows between {{ atr_n - 1 }} preceding and current row
        ),
        adx_seed_bars as (
            partition by symbol, bar_size order by i
            rows between {{ adx_n - 2 }} preceding and current row
        )

),

{#- One step of every state, from the previous bar's states (prev) and this
    bar's inputs (bar) at position i of the series: each formula written once,
    run by smoothed_series (a recursive CTE, or on Spark a fold over the last
    bars). -#}
{%- set i = '(prev.i + 1)' %}
{%- set macd_line -%}
    ({{ ema_step('prev.ema_fast', 'bar.close', fast) }})
    - ({{ ema_step('prev.ema_slow', 'bar.close', slow) }})
{%- endset %}
{%- set dx = adx_dx('prev', 'bar', adx_n) %}

{#- EMA(n): seeded with the SMA of the first n closes -#}
{%- set ema -%}
        case
            when {{ i }} < {{ ema_n - 1 }} then null
            when {{ i }} = {{ ema_n - 1 }} then bar.ema_seed
            else {{ ema_step('prev.ema', 'bar.close', ema_n) }}
        end
{%- endset %}
{#- MACD's two EMAs both start at bar slow - 1 (TA-Lib aligns them there: the
    fast one is seeded with the SMA of the `fast` closes ending there) -#}
{%- set ema_fast -%}
        case
            when {{ i }} < {{ slow - 1 }} then null
            when {{ i }} = {{ slow - 1 }} then bar.ema_fast_seed
            else {{ ema_step('prev.ema_fast', 'bar.close', fast) }}
        end
{%- endset %}
{%- set ema_slow -%}
        case
            when {{ i }} < {{ slow - 1 }} then null
            when {{ i }} = {{ slow - 1 }} then bar.ema_slow_seed
            else {{ ema_step('prev.ema_slow', 'bar.close', slow) }}
        end
{%- endset %}
{#- MACD signal: EMA(signal) of the MACD line, seeded with its SMA over
    `signal` bars (macd_sum: the running sum of the MACD line until then) -#}
{%- set macd_sum -%}
        case
            when
                {{ i }} < {{ slow - 1 }} or {{ i }} >= {{ slow + signal - 2 }}
                then null
            when
                {{ i }} = {{ slow - 1 }}
                then bar.ema_fast_seed - bar.ema_slow_seed
            else prev.macd_sum + ({{ macd_line }})
        end
{%- endset %}
{%- set macd_signal -%}
        case
            when {{ i }} < {{ slow + signal - 2 }} then null
            {%- if signal > 1 %}
                when
                    {{ i }} = {{ slow + signal - 2 }}
                    then (prev.macd_sum + ({{ macd_line }})) / {{ signal }}
            {%- endif %}
            else {{ ema_step('prev.macd_signal', macd_line, signal) }}
        end
{%- endset %}
{#- RSI: Wilder's average gain and loss over n moves -#}
{%- set avg_gain -%}
        case
            when {{ i }} < {{ rsi_n }} then null
            when {{ i }} = {{ rsi_n }} then bar.avg_gain_seed
            else {{ wilder_step('prev.avg_gain', 'bar.gain', rsi_n) }}
        end
{%- endset %}
{%- set avg_loss -%}
        case
            when {{ i }} < {{ rsi_n }} then null
            when {{ i }} = {{ rsi_n }} then bar.avg_loss_seed
            else {{ wilder_step('prev.avg_loss', 'bar.loss', rsi_n) }}
        end
{%- endset %}
{#- ATR: Wilder's average of the true range -#}
{%- set atr -%}
        case
            when {{ i }} < {{ atr_n }} then null
            when {{ i }} = {{ atr_n }} then bar.atr_seed
            else {{ wilder_step('prev.atr', 'bar.true_range', atr_n) }}
        end
{%- endset %}
{#- ADX: Wilder's running sums of +DM, -DM and true range ... -#}
{%- set wilder_sums = {} %}
{%- for state, input in [
    ('plus_dm_sum', 'plus_dm'), ('minus_dm_sum', 'minus_dm'),
    ('adx_tr_sum', 'true_range'),
] %}
    {%- set step -%}
        case
            when {{ i }} < {{ adx_n - 1 }} then null
            when {{ i }} = {{ adx_n - 1 }} then bar.{{ input | replace('true_range', 'adx_tr') }}_seed
            else {{ wilder_sum_step('prev.' ~ state, 'bar.' ~ input, adx_n) }}
        end
    {%- endset %}
    {%- do wilder_sums.update({state: step}) %}
{%- endfor %}
{#- ... whose DX is summed over n bars to seed the ADX, then Wilder-smoothed (a
    bar whose DX is undefined, no range or no movement, leaves the ADX as it
    was) -#}
{%- set dx_sum -%}
        case
            when {{ i }} < {{ adx_n }} or {{ i }} >= {{ 2 * adx_n - 1 }} then null
            else coalesce(prev.dx_sum, 0) + coalesce({{ dx }}, 0)
        end
{%- endset %}
{%- set adx -%}
        case
            when {{ i }} < {{ 2 * adx_n - 1 }} then null
            when
                {{ i }} = {{ 2 * adx_n - 1 }}
                then (prev.dx_sum + coalesce({{ dx }}, 0)) / {{ adx_n }}
            else coalesce({{ wilder_step('prev.adx', dx, adx_n) }}, prev.adx)
        end
{%- endset %}
{%- set steps = [
    ('ema', ema), ('ema_fast', ema_fast), ('ema_slow', ema_slow),
    ('macd_sum', macd_sum), ('macd_signal', macd_signal),
    ('avg_gain', avg_gain), ('avg_loss', avg_loss), ('atr', atr),
    ('plus_dm_sum', wilder_sums.plus_dm_sum),
    ('minus_dm_sum', wilder_sums.minus_dm_sum),
    ('adx_tr_sum', wilder_sums.adx_tr_sum),
    ('dx_sum', dx_sum), ('adx', adx),
] %}

smoothed as (

    {{ smoothed_series(
        'seeded',
        steps,
        inputs=[
            'close', 'ema_seed', 'ema_fast_seed', 'ema_slow_seed', 'gain',
            'loss', 'avg_gain_seed', 'avg_loss_seed', 'true_range', 'atr_seed',
            'plus_dm', 'minus_dm', 'plus_dm_seed', 'minus_dm_seed',
            'adx_tr_seed',
        ],
        decays=[
            1 - 2 / (ema_n + 1), 1 - 2 / (fast + 1), 1 - 2 / (slow + 1),
            1 - 2 / (signal + 1), 1 - 1 / rsi_n, 1 - 1 / atr_n,
            1 - 1 / adx_n,
        ],
        seed_bars=2 * adx_n + slow + signal,
    ) }}

),

states as (

    select
        seeded.symbol,
        seeded.bar_size,
        seeded.ts,
        seeded.bar_seq,
        seeded.ingested_at,
        seeded.write_from_seq,
        smoothed.ema,
        smoothed.ema_fast,
        smoothed.ema_slow,
        smoothed.macd_signal,
        smoothed.avg_gain,
        smoothed.avg_loss,
        smoothed.atr,
        smoothed.plus_dm_sum,
        smoothed.minus_dm_sum,
        smoothed.adx_tr_sum,
        smoothed.adx
    from seeded
    inner join smoothed
        on
            seeded.symbol = smoothed.symbol
            and seeded.bar_size = smoothed.bar_size
            and seeded.i = smoothed.i

)

select {{ feature_columns() }}
from states
{{ rows_to_write() }}
