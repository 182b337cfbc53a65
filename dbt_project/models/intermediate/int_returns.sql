{#- Simple and log returns of the close over 1 and n bars
    (n = var('return_window')). -#}

{%- set n = var('return_window') %}

with

bars as (

    {{ bars_to_compute(ref('int_bars')) }}

),

lagged as (

    select
        *,
        lag(close, 1) {{ series_order() }} as close_1_ago,
        lag(close, {{ n }}) {{ series_order() }} as close_n_ago
    from bars

),

returns as (

    select
        symbol,
        bar_size,
        ts,
        bar_seq,
        ingested_at,
        write_from_seq,
        close / close_1_ago - 1 as ret_1,
        ln(close / close_1_ago) as log_ret_1,
        close / close_n_ago - 1 as ret_n,
        ln(close / close_n_ago) as log_ret_n
    from lagged

)

select {{ feature_columns() }}
from returns
{{ rows_to_write() }}
