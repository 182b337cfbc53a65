{#- on-run-start: a build on a warehouse without bars stops at once with the
    command to run, instead of failing later on a missing relation deep inside a
    model. -#}
{% macro require_raw_bars() %}
    {% if execute and flags.WHICH in ('build', 'run', 'test', 'compile') %}
        {% set bars = adapter.get_relation(
            database=target.database, schema='raw', identifier='bars'
        ) %}
        {% if bars is none %}
            {{ exceptions.raise_compiler_error(
                "raw.bars does not exist in " ~ target.path
                ~ ": run `alphaduck ingest sample` "
                ~ "(or `alphaduck ingest file|ibkr`) first, then `dbt build`."
            ) }}
        {% endif %}
    {% endif %}
    select 1
{% endmacro %}
