{#- One row per (symbol, bar_size, ts): the bar, every indicator and Alpha158 feature
    (all computed from bars <= ts), the warm-up flag, and the labels, the only columns
    that look forward. Training reads this table; analysts query it. -#}

{{ config(post_hook="{{ record_feature_vars() }}") }}

{%- set lookahead = label_lookahead_bars() %}
{%- set price = var('label_price') %}
{%- set band = var('label_dead_band') %}
{%- if price not in ('open', 'close') %}
    {{- exceptions.raise_compiler_error("var label_price must be 'open' (fills at the next open) or 'close' (at the next close), got " ~ price) }}
{%- endif %}
{%- if band is not number or band < 0 %}
    {{- exceptions.raise_compiler_error("var label_dead_band must be a number >= 0, got " ~ band) }}
{%- endif %}
{%- set parts = ['int_returns', 'int_trend', 'int_momentum', 'int_volatility', 'int_volume', 'int_calendar', 'int_alpha158'] %}
{%- set key_columns = ['symbol', 'bar_size', 'ts', 'bar_seq', 'ingested_at'] %}

with bars as (

    -- the last h + 1 bars already written get their labels once their future bars arrive
    {{ bars_to_compute(ref('stg_bars')) }}

),

labelled as (

    -- what a decision on this bar's close earns: filled on the next bar at label_price,
    -- held h bars (the backtests fill there too; a close-to-close label would credit the
    -- overnight gap no strategy deciding at the close can trade)
    select
        *,
        lead({{ price }}, {{ lookahead }}) {{ series_order() }}
            / lead({{ price }}, 1) {{ series_order() }} - 1 as label_fwd_return_h
    from bars

)

select
    labelled.symbol,
    labelled.bar_size,
    labelled.ts,
    labelled.bar_seq,
    labelled.session_date,
    labelled.open,
    labelled.high,
    labelled.low,
    labelled.close,
    labelled.volume,
    labelled.ingested_at,
    -- warm: every window full, recursive indicators settled, and a whole previous session
    -- behind the bar (its session gap is known)
    labelled.bar_seq >= {{ var('warmup_bars') }}
        and int_calendar.session_gap is not null as warmup_complete,
    {%- for part in parts %}
    {%- for column in documented_columns(part) if column not in key_columns %}
    {{ part }}.{{ column }},
    {%- endfor %}
    {%- endfor %}
    labelled.label_fwd_return_h,
    -- no direction inside the dead band, nor for an exact zero (a flat bar is not a down move)
    case
        when labelled.label_fwd_return_h > {{ band }} then 1
        when labelled.label_fwd_return_h < -{{ band }} then 0
    end as label_direction_h
from labelled
{%- for part in parts %}
inner join {{ ref(part) }} as {{ part }}
    on {{ part }}.symbol = labelled.symbol
    and {{ part }}.bar_size = labelled.bar_size
    and {{ part }}.ts = labelled.ts
{%- endfor %}
{{ rows_to_write('labelled') }}
