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

select * from renamed
