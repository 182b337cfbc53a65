with

source as (

    select * from {{ source('raw', 'trading_sessions') }}

),

renamed as (

    select
        ---------- keys
        calendar,
        cast(session_date as date) as session_date,

        ---------- timestamps (UTC)
        open_utc,
        close_utc,

        ---------- flags
        cast(is_early_close as boolean) as is_early_close

    from source

)

select * from renamed
