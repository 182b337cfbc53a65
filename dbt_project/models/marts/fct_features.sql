{#- One row per (symbol, bar_size, ts): the bar, every indicator and Alpha158 feature
    (all computed from bars <= ts), the warm-up flag, and the labels, the only columns
    that look forward. Training reads this table; analysts query it. -#}

{%- set h = var('label_horizon') %}
{%- set band = var('label_dead_band') %}
{%- if h < 1 %}{{ exceptions.raise_compiler_error("var label_horizon must be at least 1 bar, got " ~ h) }}{% endif %}
{%- set parts = ['int_returns', 'int_trend', 'int_momentum', 'int_volatility', 'int_volume', 'int_calendar', 'int_alpha158'] %}
{%- set key_columns = ['symbol', 'bar_size', 'ts', 'bar_seq', 'ingested_at'] %}

with bars as (

    -- the last h bars already written get their labels once their future bar arrives
    {{ bars_to_compute(ref('stg_bars')) }}

),

labelled as (

    select
        *,
        lead(close, {{ h }}) {{ series_order() }} / close - 1 as label_fwd_return_h
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
    labelled.bar_seq >= {{ var('warmup_bars') }} as warmup_complete,
    {%- for part in parts %}
    {%- for column in documented_columns(part) if column not in key_columns %}
    {{ part }}.{{ column }},
    {%- endfor %}
    {%- endfor %}
    labelled.label_fwd_return_h,
    case
        when labelled.label_fwd_return_h is null then null
        when labelled.label_fwd_return_h > {{ band }} then 1
        when labelled.label_fwd_return_h < -{{ band }} or {{ band }} = 0 then 0
    end as label_direction_h
from labelled
{%- for part in parts %}
inner join {{ ref(part) }} as {{ part }}
    on {{ part }}.symbol = labelled.symbol
    and {{ part }}.bar_size = labelled.bar_size
    and {{ part }}.ts = labelled.ts
{%- endfor %}
{{ rows_to_write('labelled') }}
