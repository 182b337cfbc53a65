{#- raw.bars renamed and typed. An incremental table on DuckDB
    (dbt_project.yml): a build compares raw.bars with it a UTC day at a time
    and rewrites each series from its first changed day (first_changed_ts), so
    new and re-ingested bars, and a bar edited behind the ingester's back too,
    reach the table and its tests. -#}

{%- set stored = this if is_incremental() else none %}

with

source as (

    select * from {{ source('raw', 'bars') }}

),

renamed as (

    select
        ---------- keys
        symbol,
        bar_size,
        ts,

        ---------- prices (as traded: adjustment is int_bars')
        cast(open as double) as open,
        cast(high as double) as high,
        cast(low as double) as low,
        cast(close as double) as close,  -- noqa: RF04
        cast(wap as double) as wap,

        ---------- activity
        cast(volume as double) as volume,
        bar_count,

        ---------- lineage
        source as bar_source,
        ingested_at

    from source

)

{%- if stored is not none %},

changed_from as (

    {{ first_changed_ts('renamed', stored) }}

),

changed as (

    select renamed.*
    from renamed
    inner join changed_from
        on
            renamed.symbol = changed_from.symbol
            and renamed.bar_size = changed_from.bar_size
            and renamed.ts >= changed_from.from_ts

)

select * from changed
{%- else %}

select * from renamed
{%- endif %}
