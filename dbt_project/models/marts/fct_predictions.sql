{#- Predictions beside what happened: each scored bar with its realised forward return and
    direction over the model's horizon, and when it was (hour of day, day of week), so hit
    rates are one GROUP BY. A view: always as current as ml.predictions. -#}
{{ config(materialized='view') }}
{%- set horizons = label_horizons() %}

-- depends_on: {{ source('ml', 'predictions') }}
{%- set landed = adapter.get_relation(database=target.database, schema='ml', identifier='predictions') if execute else none %}

with predictions as (

    {%- if landed is not none %}
    select * from {{ source('ml', 'predictions') }}
    {%- else %}
    -- a plain `dbt build` on a warehouse no prediction reached yet (`alphaduck build` creates
    -- ml.predictions first): the view is empty until the next build
    select
        cast(null as varchar) as run_id, cast(null as varchar) as symbol, cast(null as varchar) as bar_size,
        cast(null as timestamp with time zone) as ts, cast(null as double) as proba_up,
        cast(null as tinyint) as predicted_direction, cast(null as double) as confidence,
        cast(null as double) as predicted_return, cast(null as timestamp with time zone) as created_at,
        cast(null as double) as score, cast(null as integer) as horizon
    where false
    {%- endif %}

),

features as (

    select
        symbol, bar_size, ts, session_date, close, minute_of_session, day_of_week,
        {%- for h in horizons %}
        label_fwd_return_{{ h }},
        label_direction_{{ h }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ ref('fct_features') }}

),

realised as (

    select
        predictions.*,
        {#- a model's horizon is one of the label horizons it was trained on; older rows
            without one take the default #}
        {%- set h = 'coalesce(predictions.horizon, ' ~ var('label_horizon') ~ ')' %}
        case {{ h }}
            {%- for horizon in horizons %}
            when {{ horizon }} then features.label_fwd_return_{{ horizon }}
            {%- endfor %}
        end as realised_return,
        case {{ h }}
            {%- for horizon in horizons %}
            when {{ horizon }} then features.label_direction_{{ horizon }}
            {%- endfor %}
        end as realised_direction,
        features.session_date,
        features.day_of_week,
        features.minute_of_session,
        features.close
    from predictions
    left join features
        on features.symbol = predictions.symbol
        and features.bar_size = predictions.bar_size
        and features.ts = predictions.ts

)

select
    run_id,
    symbol,
    bar_size,
    ts,
    session_date,
    cast(extract(hour from {{ local_timestamp('ts', var('exchange_timezone')) }}) as integer) as hour_of_day,
    day_of_week,
    minute_of_session,
    close,
    proba_up,
    predicted_direction,
    confidence,
    predicted_return,
    coalesce(horizon, {{ var('label_horizon') }}) as horizon,
    realised_return,
    realised_direction,
    case
        when realised_direction is null then null
        else predicted_direction = realised_direction
    end as is_hit,
    created_at
from realised
