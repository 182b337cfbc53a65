{#- on-run-start: the landing table `alphaduck predict` writes into, so that its dbt source
    (and marts.fct_predictions over it) exists before the first prediction does. This is
    the table's one definition; ml/predict.py writes these columns. -#}
{% macro create_ml_predictions() %}
    {% if execute and flags.WHICH in ('build', 'run') %}
        {#- qualified: a warehouse file named ml.duckdb makes a bare `ml` ambiguous -#}
        create schema if not exists {{ adapter.quote(target.database) }}.ml;
        create table if not exists {{ adapter.quote(target.database) }}.ml.predictions (
            run_id varchar not null,            -- models/<run_id>/ that scored the row
            symbol varchar not null,
            bar_size varchar not null,
            ts timestamptz not null,            -- the decision bar (its close)
            proba_up double,                    -- classifier: P(label_direction_<h> = 1)
            predicted_direction tinyint not null,
            confidence double,                  -- |proba_up - 0.5| * 2
            predicted_return double,            -- regressor: predicted label_fwd_return_<h>
            created_at timestamptz not null,
            score double,                       -- the uncalibrated model output rankings use
            horizon integer,                    -- h of the labels the model learnt (bars held after the fill)
            primary key (run_id, symbol, bar_size, ts)
        );
        alter table {{ adapter.quote(target.database) }}.ml.predictions add column if not exists score double;
        alter table {{ adapter.quote(target.database) }}.ml.predictions add column if not exists horizon integer;
        -- dbt rolls the hooks' connection back when they end: keep the table
        commit;
    {% else %}
        select 1
    {% endif %}
{% endmacro %}
