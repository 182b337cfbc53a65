{#- on-run-start: the landing table `alphaduck predict` writes into, so that its
    dbt source (and staging.stg_ml__predictions over it) exists before the first
    prediction does. This is the table's one definition; ml/predict.py writes
    these columns. Qualified with the database: a warehouse file named
    ml.duckdb makes a bare `ml` ambiguous. -#}
{% macro create_ml_predictions() %}
    {% if execute and flags.WHICH in ('build', 'run') %}
        {%- set table = adapter.quote(target.database) ~ '.ml.predictions' %}
        create schema if not exists {{ adapter.quote(target.database) }}.ml;
        create table if not exists {{ table }} (
            -- models/<run_id>/ that scored the row
            run_id varchar not null,
            symbol varchar not null,
            bar_size varchar not null,
            -- the decision bar (its close)
            ts timestamptz not null,
            -- classifier: P(label_direction_<h> = 1)
            proba_up double,
            predicted_direction tinyint not null,
            -- |proba_up - 0.5| * 2
            confidence double,
            -- regressor: predicted label_fwd_return_<h>
            predicted_return double,
            created_at timestamptz not null,
            -- the uncalibrated model output rankings use
            score double,
            -- h of the labels the model learnt (bars held after the fill)
            horizon integer,
            primary key (run_id, symbol, bar_size, ts)
        );
        alter table {{ table }} add column if not exists score double;
        alter table {{ table }} add column if not exists horizon integer;
        -- dbt rolls the hooks' connection back when they end: keep the table
        commit;
    {% else %}
        select 1
    {% endif %}
{% endmacro %}
