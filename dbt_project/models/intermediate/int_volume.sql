{#- Volume: on-balance volume, the session VWAP and the close's distance to it,
    and the volume z-score over var('volume_z_window') bars. -#}

{%- set z_n = var('volume_z_window') %}
{%- set state = feature_state() %}

with

bars as (

    {{ bars_to_compute(ref('int_bars')) }}

),

signed as (

    select
        *,
        bar_seq - min(bar_seq) over (partition by symbol, bar_size) as i,
        -- OBV adds the volume of an up close, subtracts a down close's, ignores
        -- a flat one
        case
            when close > lag(close) {{ series_order() }} then volume
            when close < lag(close) {{ series_order() }} then -volume
            else 0
        end as signed_volume,
        -- a bar's own average price when the source gives it (IB's wap), else
        -- its typical price
        coalesce(wap, (high + low + close) / 3) * volume as price_volume
    from bars

),

-- OBV is a running total from the first bar ever: continue from the stored
-- value at the first bar read instead of starting again from zero (nothing to
-- continue from in a full build)
carried as (

    select
        symbol,
        bar_size,
        ts,
        {{ 'obv' if state is not none else 'cast(null as double)' }}
            as carried_obv
    from {{ state if state is not none else 'bars' }}
    {{ 'where false' if state is none }}

),

obv_steps as (

    select
        signed.*,
        case
            -- (from the series' first bar, nothing is carried: an adjustment
            -- may have changed it)
            when signed.i = 0 and signed.bar_seq > 0
                then coalesce(carried.carried_obv, signed.volume)
            -- TA-Lib starts the total at the first bar's volume
            when signed.i = 0 then signed.volume
            else signed.signed_volume
        end as obv_step
    from signed
    left join carried
        on
            signed.symbol = carried.symbol
            and signed.bar_size = carried.bar_size
            and signed.ts = carried.ts
            and signed.i = 0

),

sessions_so_far as (

    select
        *,
        sum(obv_step) {{ series_so_far() }} as obv,
        sum(price_volume) {{ session_so_far() }}
        / nullif(sum(volume) {{ session_so_far() }}, 0) as vwap_session
    from obv_steps

),

indicators as (

    select
        symbol,
        bar_size,
        ts,
        bar_seq,
        ingested_at,
        write_from_seq,
        obv,
        vwap_session,
        close / vwap_session - 1 as vwap_distance,
        case
            when bar_seq >= {{ z_n - 1 }}
                then coalesce(
                    (volume - avg(volume) {{ last_bars(z_n) }})
                    / nullif(stddev_samp(volume) {{ last_bars(z_n) }}, 0),
                    0
                )
        end as volume_z
    from sessions_so_far

)

select {{ feature_columns() }}
from indicators
{{ rows_to_write() }}
