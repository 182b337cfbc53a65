{#- Qlib's Alpha158 (the feature set of its LightGBM benchmark): 9 candle shapes, 4 price
    ratios and 29 rolling operators over var('alpha158_windows'), every one unit-free
    (divided by the close or a volume, or a ratio, count or rank).

    Differences from Qlib, on purpose: a rolling feature is null until its window is full
    (Qlib computes partial windows from the first bar), and VWAP0 uses the bar's own wap
    when the source gives one, else its typical price (Qlib uses the day's VWAP). -#}

{%- set windows = var('alpha158_windows') %}
{%- set longest = windows | max %}

with bars as (

    {{ bars_to_compute(ref('stg_bars')) }}

),

moves as (

    select
        *,
        lag(close) {{ series_order() }} as prev_close,
        lag(volume) {{ series_order() }} as prev_volume,
        coalesce(wap, (high + low + close) / 3) as vwap,
        {%- for k in range(1, longest) %}
        lag(close, {{ k }}) {{ series_order() }} as close_lag_{{ k }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from bars

),

steps as (

    select
        *,
        close - prev_close as close_change,
        abs(close / prev_close - 1) * volume as abs_return_volume,
        volume - prev_volume as volume_change,
        close / prev_close as close_ratio,
        ln(volume / prev_volume + 1) as log_volume_ratio,
        ln(volume + 1) as log_volume
    from moves

),

features as (

select
    symbol,
    bar_size,
    ts,
    bar_seq,
    ingested_at,
    write_from_seq,

    -- candle shape, relative to the open or to the bar's range
    (close - open) / open as a158_kmid,
    (high - low) / open as a158_klen,
    (close - open) / (high - low + 1e-12) as a158_kmid2,
    (high - greatest(open, close)) / open as a158_kup,
    (high - greatest(open, close)) / (high - low + 1e-12) as a158_kup2,
    (least(open, close) - low) / open as a158_klow,
    (least(open, close) - low) / (high - low + 1e-12) as a158_klow2,
    (2 * close - high - low) / open as a158_ksft,
    (2 * close - high - low) / (high - low + 1e-12) as a158_ksft2,

    -- this bar's prices relative to its close
    open / close as a158_open0,
    high / close as a158_high0,
    low / close as a158_low0,
    vwap / close as a158_vwap0,

    {%- for d in windows %}

    -- window {{ d }}
    -- ROC: the close d bars ago relative to today's (Qlib's direction)
    lag(close, {{ d }}) {{ series_order() }} / close as a158_roc_{{ d }},
    {{ rolling('avg(close)', d) }} / close as a158_ma_{{ d }},
    {{ rolling('stddev_samp(close)', d) }} / close as a158_std_{{ d }},
    -- linear trend of the close over the window: slope per bar, fit, last residual
    {{ rolling('regr_slope(close, bar_seq)', d) }} / close as a158_beta_{{ d }},
    {{ rolling('regr_r2(close, bar_seq)', d) }} as a158_rsqr_{{ d }},
    (close - ({{ rolling('avg(close)', d) }} + {{ rolling('regr_slope(close, bar_seq)', d) }}
        * (bar_seq - {{ rolling('avg(bar_seq)', d) }}))) / close as a158_resi_{{ d }},
    {{ rolling('max(high)', d) }} / close as a158_max_{{ d }},
    {{ rolling('min(low)', d) }} / close as a158_min_{{ d }},
    {{ rolling('quantile_cont(close, 0.8)', d) }} / close as a158_qtlu_{{ d }},
    {{ rolling('quantile_cont(close, 0.2)', d) }} / close as a158_qtld_{{ d }},
    -- percentile rank of today's close among the last d (scipy's percentileofscore, 'rank')
    case when bar_seq >= {{ d - 1 }} then (
        1 {%- for k in range(1, d) %} + (case when close_lag_{{ k }} < close then 2 when close_lag_{{ k }} = close then 1 else 0 end){% endfor %}
        + 1
    ) / {{ 2 * d }}.0 end as a158_rank_{{ d }},
    (close - {{ rolling('min(low)', d) }}) / ({{ rolling('max(high)', d) }} - {{ rolling('min(low)', d) }} + 1e-12) as a158_rsv_{{ d }},
    -- position (1 = oldest .. d = today) of the window's high / low, over d; first one on ties
    ({{ rolling("arg_max(bar_seq, {'value': high, 'earliest': -bar_seq})", d) }} - bar_seq + {{ d }}) / {{ d }}.0 as a158_imax_{{ d }},
    ({{ rolling("arg_min(bar_seq, {'value': low, 'earliest': bar_seq})", d) }} - bar_seq + {{ d }}) / {{ d }}.0 as a158_imin_{{ d }},
    ({{ rolling("arg_max(bar_seq, {'value': high, 'earliest': -bar_seq})", d) }}
        - {{ rolling("arg_min(bar_seq, {'value': low, 'earliest': bar_seq})", d) }}) / {{ d }}.0 as a158_imxd_{{ d }},
    {{ rolling('corr(close, log_volume)', d) }} as a158_corr_{{ d }},
    {{ rolling('corr(close_ratio, log_volume_ratio)', d, first_bar=1) }} as a158_cord_{{ d }},
    -- share of up / down closes, and their difference
    {{ rolling('avg(case when close_change > 0 then 1.0 else 0.0 end)', d, first_bar=1) }} as a158_cntp_{{ d }},
    {{ rolling('avg(case when close_change < 0 then 1.0 else 0.0 end)', d, first_bar=1) }} as a158_cntn_{{ d }},
    {{ rolling('avg(case when close_change > 0 then 1.0 when close_change < 0 then -1.0 else 0.0 end)', d, first_bar=1) }} as a158_cntd_{{ d }},
    -- gains, losses and net move as shares of the total absolute move (an RSI in 0..1)
    {{ rolling('sum(greatest(close_change, 0))', d, first_bar=1) }} / ({{ rolling('sum(abs(close_change))', d, first_bar=1) }} + 1e-12) as a158_sump_{{ d }},
    {{ rolling('sum(greatest(-close_change, 0))', d, first_bar=1) }} / ({{ rolling('sum(abs(close_change))', d, first_bar=1) }} + 1e-12) as a158_sumn_{{ d }},
    {{ rolling('sum(close_change)', d, first_bar=1) }} / ({{ rolling('sum(abs(close_change))', d, first_bar=1) }} + 1e-12) as a158_sumd_{{ d }},
    -- volume: average and spread relative to today's, and the volatility of volume-weighted moves
    {{ rolling('avg(volume)', d) }} / (volume + 1e-12) as a158_vma_{{ d }},
    {{ rolling('stddev_samp(volume)', d) }} / (volume + 1e-12) as a158_vstd_{{ d }},
    {{ rolling('stddev_samp(abs_return_volume)', d, first_bar=1) }} / ({{ rolling('avg(abs_return_volume)', d, first_bar=1) }} + 1e-12) as a158_wvma_{{ d }},
    {{ rolling('sum(greatest(volume_change, 0))', d, first_bar=1) }} / ({{ rolling('sum(abs(volume_change))', d, first_bar=1) }} + 1e-12) as a158_vsump_{{ d }},
    {{ rolling('sum(greatest(-volume_change, 0))', d, first_bar=1) }} / ({{ rolling('sum(abs(volume_change))', d, first_bar=1) }} + 1e-12) as a158_vsumn_{{ d }},
    {{ rolling('sum(volume_change)', d, first_bar=1) }} / ({{ rolling('sum(abs(volume_change))', d, first_bar=1) }} + 1e-12) as a158_vsumd_{{ d }}{% if not loop.last %},{% endif %}
    {%- endfor %}

from steps

)

select {{ feature_columns() }}
from features
{{ rows_to_write() }}
