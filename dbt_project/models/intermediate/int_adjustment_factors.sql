{#- Back-adjustment factors as of the latest corporate action, one row per
    (symbol, bar_size, trade_date) that has bars:
      price_factor   product over the actions with ex_date after the date of
                     1 / split_ratio for a split, and
                     1 - cash_dividend / previous close for a dividend (CRSP's
                     convention; the previous close is the raw close of the
                     symbol's last bar before the ex-date); 1 from the latest
                     action on
      volume_factor  product of split_ratio over the same splits (shares, not
                     money)
      adjusted_at    when the latest of those actions was ingested: a new
                     action makes the bars it adjusts new to an incremental
                     build
    Adjusted prices are raw x price_factor, so returns over them are total
    returns (dividends in) and a split is no move at all. -#}

with

bars as (

    select * from {{ ref('int_bars_placed') }}

),

actions as (

    select * from {{ ref('stg_corporate_actions') }}

),

dates as (

    -- the last raw close of each date a series traded (a dividend's
    -- "previous close")
    select
        symbol,
        bar_size,
        trade_date,
        max_by(close, ts) as last_close
    from bars
    group by 1, 2, 3

),

series as (

    select distinct
        symbol,
        bar_size
    from dates

),

events as (

    -- trading dates and actions of each series in one ordered list: at one
    -- date the action sorts first going forward (it follows the previous
    -- date's close) and last going backward (it adjusts only the dates before
    -- it)
    select
        symbol,
        bar_size,
        trade_date as event_date,
        0 as is_action,
        last_close,
        cast(null as {{ dbt.type_string() }}) as kind,
        cast(null as double) as split_ratio,
        cast(null as double) as cash_dividend,
        cast(null as {{ type_utc_timestamp() }}) as ingested_at
    from dates

    union all

    select
        series.symbol,
        series.bar_size,
        actions.ex_date as event_date,
        1 as is_action,
        null as last_close,
        actions.kind,
        actions.split_ratio,
        actions.cash_dividend,
        actions.ingested_at
    from actions
    inner join series on actions.symbol = series.symbol

),

priced as (

    select
        *,
        {{ last_value_ignoring_nulls('last_close') }} over (
            partition by symbol, bar_size
            order by event_date asc, is_action desc
            rows between unbounded preceding and 1 preceding
        ) as previous_close
    from events

),

action_factors as (

    select
        *,
        case
            when is_action = 0 then 0.0
            when kind = 'split' then -ln(split_ratio)
            when kind = 'dividend' and previous_close is not null
                then ln(1 - cash_dividend / previous_close)
            else 0.0
        end as log_price_factor,
        case
            when is_action = 1 and kind = 'split' then ln(split_ratio)
            else 0.0
        end as log_volume_factor
    from priced

),

cumulated as (

    select
        *,
        sum(log_price_factor) over later_first as log_price_to_date,
        sum(log_volume_factor) over later_first as log_volume_to_date,
        max(ingested_at) over later_first as adjusted_at
    from action_factors
    window later_first as (
        partition by symbol, bar_size
        order by event_date desc, is_action asc
        rows between unbounded preceding and current row
    )

),

factors as (

    select
        symbol,
        bar_size,
        event_date as trade_date,
        adjusted_at,
        exp(log_price_to_date) as price_factor,
        exp(log_volume_to_date) as volume_factor
    from cumulated
    where is_action = 0

)

select * from factors
