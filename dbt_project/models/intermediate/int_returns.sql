-- Simple and log returns of the close over 1 and n bars (n = var('return_window')).

{%- set n = var('return_window') %}

with bars as (

    {{ bars_to_compute(ref('int_bars')) }}

),

returns as (

    select
        symbol,
        bar_size,
        ts,
        bar_seq,
        ingested_at,
        close / lag(close, 1) {{ series_order() }} - 1 as ret_1,
        ln(close / lag(close, 1) {{ series_order() }}) as log_ret_1,
        close / lag(close, {{ n }}) {{ series_order() }} - 1 as ret_n,
        ln(close / lag(close, {{ n }}) {{ series_order() }}) as log_ret_n,
        write_from_seq
    from bars

)

select {{ feature_columns() }}
from returns
{{ rows_to_write() }}
