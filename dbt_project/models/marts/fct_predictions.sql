{#- Predictions beside what happened: each scored bar with its realised forward
    return and direction over the model's horizon, and when it was (hour of day,
    day of week), so hit rates are one GROUP BY. A view: always as current as
    ml.predictions. -#}
{{ config(materialized='view') }}
{%- set horizons = label_horizons() %}

with

predictions as (

    select * from {{ ref('stg_ml__predictions') }}

),

features as (

    select
        symbol,
        bar_size,
        ts,
        {%- for h in horizons %}
            label_fwd_return_{{ h }},
            label_direction_{{ h }},
        {%- endfor %}
        session_date,
        close,
        minute_of_session,
        day_of_week
    from {{ ref('fct_features') }}

),

realised as (

    select
        predictions.*,
        {#- a model's horizon is one of the label horizons it was trained on;
            older rows without one take the default #}
        {%- set h -%}
            coalesce(predictions.horizon, {{ var('label_horizon') }})
        {%- endset %}
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
        on
            predictions.symbol = features.symbol
            and predictions.bar_size = features.bar_size
            and predictions.ts = features.ts

),

final as (

    select
        run_id,
        symbol,
        bar_size,
        ts,
        session_date,
        cast(extract(hour from {{ local_timestamp(
            'ts', var('exchange_timezone')
        ) }}) as integer) as hour_of_day,
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

)

select * from final
