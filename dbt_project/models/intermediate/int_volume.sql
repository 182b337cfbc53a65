-- Volume: on-balance volume, the session VWAP and the close's distance to it, and the
-- volume z-score over var('volume_z_window') bars.

{%- set z_n = var('volume_z_window') %}

with bars as (

    {{ bars_to_compute(ref('int_bars')) }}

),

signed as (

    select
        *,
        bar_seq - min(bar_seq) over (partition by symbol, bar_size) as i,
        -- OBV adds the volume of an up close, subtracts a down close's, ignores a flat one
        case
            when close > lag(close) {{ series_order() }} then volume
            when close < lag(close) {{ series_order() }} then -volume
            else 0
        end as signed_volume,
        -- a bar's own average price when the source gives it (IB's wap), else its typical price
        coalesce(wap, (high + low + close) / 3) * volume as price_volume
    from bars

),

{%- set state = feature_state() %}
{%- if state is not none %}

-- OBV is a running total from the first bar ever: continue from the stored value at the
-- first bar read instead of starting again from zero
carried as (

    select symbol, bar_size, ts, obv as carried_obv from {{ state }}

),

{%- endif %}

obv_start as (

    select
        signed.*,
        {%- if state is not none %}
        -- (from the series' first bar, nothing is carried: an adjustment may have changed it)
        case
            when signed.i = 0 and signed.bar_seq > 0 then coalesce(carried.carried_obv, signed.volume)
            when signed.i = 0 then signed.volume
            else signed.signed_volume
        end
        {%- else %}
        -- TA-Lib starts the total at the first bar's volume
        case when signed.i = 0 then signed.volume else signed.signed_volume end
        {%- endif %} as obv_step
    from signed
    {%- if state is not none %}
    left join carried
        on carried.symbol = signed.symbol
        and carried.bar_size = signed.bar_size
        and carried.ts = signed.ts
        and signed.i = 0
    {%- endif %}

),

indicators as (

    select
        symbol,
        bar_size,
        ts,
        bar_seq,
        ingested_at,
        sum(obv_step) {{ series_so_far() }} as obv,
        sum(price_volume) {{ session_so_far() }} / nullif(sum(volume) {{ session_so_far() }}, 0) as vwap_session,
        close / (sum(price_volume) {{ session_so_far() }} / nullif(sum(volume) {{ session_so_far() }}, 0)) - 1 as vwap_distance,
        case when bar_seq >= {{ z_n - 1 }} then
            coalesce((volume - avg(volume) {{ last_bars(z_n) }}) / nullif(stddev_samp(volume) {{ last_bars(z_n) }}, 0), 0)
        end as volume_z,
        write_from_seq
    from obv_start

)

select {{ feature_columns() }}
from indicators
{{ rows_to_write() }}
