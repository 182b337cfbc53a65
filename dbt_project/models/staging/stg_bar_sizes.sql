with

source as (

    select * from {{ source('raw', 'bar_sizes') }}

),

renamed as (

    select
        ---------- keys
        bar_size,

        ---------- length
        ib_setting,
        cast(seconds as integer) as bar_seconds

    from source

)

select * from renamed
