{#- One row per (symbol, bar_size, ts): the bar (adjusted), every indicator and
    Alpha158 feature (all computed from bars <= ts), the warm-up flag, and the
    labels, the only columns that look forward. Training reads this table;
    analysts query it. Its contract (fct_features.yml) names every column. -#}
{{ config(post_hook="{{ record_feature_vars() }}") }}

{%- set parts = [
    'int_returns', 'int_trend', 'int_momentum', 'int_volatility',
    'int_volume', 'int_calendar', 'int_alpha158',
] %}
{%- set key_columns = ['symbol', 'bar_size', 'ts', 'bar_seq', 'ingested_at'] %}

with

bars as (

    {{ bars_to_compute(ref('int_bars')) }}

),

int_returns as (

    select * from {{ ref('int_returns') }}

),

int_trend as (

    select * from {{ ref('int_trend') }}

),

int_momentum as (

    select * from {{ ref('int_momentum') }}

),

int_volatility as (

    select * from {{ ref('int_volatility') }}

),

int_volume as (

    select * from {{ ref('int_volume') }}

),

int_calendar as (

    select * from {{ ref('int_calendar') }}

),

int_alpha158 as (

    select * from {{ ref('int_alpha158') }}

),

int_labels as (

    select * from {{ ref('int_labels') }}

),

joined as (

    select
        bars.symbol,
        bars.bar_size,
        bars.ts,
        bars.bar_seq,
        bars.session_date,
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        bars.volume,
        bars.price_factor,
        bars.ingested_at,
        {%- for part in parts %}
            {%- for column in documented_columns(part)
                if column not in key_columns %}
                {{ part }}.{{ column }},
            {%- endfor %}
        {%- endfor %}
        {%- for h in label_horizons() %}
            int_labels.label_fwd_return_{{ h }},
            int_labels.label_direction_{{ h }},
            int_labels.label_xs_rank_{{ h }},
            int_labels.label_xs_excess_{{ h }},
        {%- endfor %}
        bars.write_from_seq
    from bars
    inner join int_returns
        on
            bars.symbol = int_returns.symbol
            and bars.bar_size = int_returns.bar_size
            and bars.ts = int_returns.ts
    inner join int_trend
        on
            bars.symbol = int_trend.symbol
            and bars.bar_size = int_trend.bar_size
            and bars.ts = int_trend.ts
    inner join int_momentum
        on
            bars.symbol = int_momentum.symbol
            and bars.bar_size = int_momentum.bar_size
            and bars.ts = int_momentum.ts
    inner join int_volatility
        on
            bars.symbol = int_volatility.symbol
            and bars.bar_size = int_volatility.bar_size
            and bars.ts = int_volatility.ts
    inner join int_volume
        on
            bars.symbol = int_volume.symbol
            and bars.bar_size = int_volume.bar_size
            and bars.ts = int_volume.ts
    inner join int_calendar
        on
            bars.symbol = int_calendar.symbol
            and bars.bar_size = int_calendar.bar_size
            and bars.ts = int_calendar.ts
    inner join int_alpha158
        on
            bars.symbol = int_alpha158.symbol
            and bars.bar_size = int_alpha158.bar_size
            and bars.ts = int_alpha158.ts
    inner join int_labels
        on
            bars.symbol = int_labels.symbol
            and bars.bar_size = int_labels.bar_size
            and bars.ts = int_labels.ts

)

select {{ feature_columns() }}
from joined
{{ rows_to_write() }}
