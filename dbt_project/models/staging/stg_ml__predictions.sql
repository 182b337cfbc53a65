{#- A view, unlike the rest of staging: marts.fct_predictions must be as current
    as ml.predictions, which `alphaduck predict` writes after every build. -#}
{{ config(materialized='view') }}

-- depends_on: {{ source('ml', 'predictions') }}
{%- set landed = adapter.get_relation(
    database=target.database, schema='ml', identifier='predictions'
) if execute else none %}

with

source as (

    {%- if landed is not none %}

    select * from {{ source('ml', 'predictions') }}

    {%- else %}

    {#- a plain `dbt build` on a warehouse no prediction reached yet
        (`alphaduck build` creates ml.predictions first, with the DDL
        ml/predict.py owns): the view is empty until the next build #}
    select
        cast(null as {{ dbt.type_string() }}) as run_id,
        cast(null as {{ dbt.type_string() }}) as symbol,
        cast(null as {{ dbt.type_string() }}) as bar_size,
        cast(null as {{ type_utc_timestamp() }}) as ts,
        cast(null as double) as proba_up,
        cast(null as tinyint) as predicted_direction,
        cast(null as double) as confidence,
        cast(null as double) as predicted_return,
        cast(null as {{ type_utc_timestamp() }}) as created_at,
        cast(null as double) as score,
        cast(null as integer) as horizon
    where false

    {%- endif %}

),

renamed as (

    select
        ---------- keys
        run_id,
        symbol,
        bar_size,
        ts,

        ---------- the model's output
        proba_up,
        predicted_direction,
        confidence,
        predicted_return,
        score,
        horizon,

        ---------- lineage
        created_at

    from source

)

select * from renamed
