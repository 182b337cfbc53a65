{#- Predictions beside what happened: each scored bar with its realised forward return and
    direction, and when it was (hour of day, day of week), so hit rates are one GROUP BY.
    A view: always as current as ml.predictions. -#}
{{ config(materialized='view') }}

with predictions as (

    select * from {{ source('ml', 'predictions') }}

),

features as (

    select
        symbol, bar_size, ts, session_date, close, minute_of_session, day_of_week,
        label_fwd_return_h, label_direction_h
    from {{ ref('fct_features') }}

)

select
    predictions.run_id,
    predictions.symbol,
    predictions.bar_size,
    predictions.ts,
    features.session_date,
    cast(extract(hour from {{ local_timestamp('predictions.ts', var('exchange_timezone')) }}) as integer) as hour_of_day,
    features.day_of_week,
    features.minute_of_session,
    features.close,
    predictions.proba_up,
    predictions.predicted_direction,
    predictions.confidence,
    predictions.predicted_return,
    features.label_fwd_return_h as realised_return,
    features.label_direction_h as realised_direction,
    case
        when features.label_direction_h is null then null
        else predictions.predicted_direction = features.label_direction_h
    end as is_hit,
    predictions.created_at
from predictions
left join features
    on features.symbol = predictions.symbol
    and features.bar_size = predictions.bar_size
    and features.ts = predictions.ts
