{#- raw.corporate_actions, typed. A warehouse ingested before the table existed
    has none: then no action, so every factor is 1. -#}
-- depends_on: {{ source('raw', 'corporate_actions') }}
{%- set actions = adapter.get_relation(
    database=target.database, schema='raw', identifier='corporate_actions'
) if execute else none %}

with

{%- if actions is not none %}

    source as (

        select * from {{ source('raw', 'corporate_actions') }}

    ),

{%- else %}

    source as (

        select
            cast(null as {{ dbt.type_string() }}) as symbol,
            cast(null as date) as ex_date,
            cast(null as {{ dbt.type_string() }}) as kind,
            cast(null as double) as split_ratio,
            cast(null as double) as cash_dividend,
            cast(null as {{ dbt.type_string() }}) as source,
            cast(null as {{ type_utc_timestamp() }}) as ingested_at
        where false

    ),

{%- endif %}

renamed as (

    select
        ---------- keys
        symbol,
        cast(ex_date as date) as ex_date,
        kind,

        ---------- amounts
        cast(split_ratio as double) as split_ratio,
        cast(cash_dividend as double) as cash_dividend,

        ---------- lineage
        source as action_source,
        ingested_at

    from source

)

select * from renamed
