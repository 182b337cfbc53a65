{#- A view, unlike the rest of staging: marts.fct_predictions must be as current
    as ml.predictions, which `alphaduck predict` writes after every build. -#}
{{ config(materialized='view') }}

with

source as (

    select * from {{ source('ml', 'predictions') }}

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
