{#- rebuild_in_full: drop a built table so this build creates it anew, in
    full, saying why (`alphaduck build` prints the line). For on-run-start
    hooks, which must then end with `commit`: dbt rolls a hook's connection
    back when it ends. -#}
{% macro rebuild_in_full(relation, why) %}
    {%- do log(why ~ ": rebuilding it in full", info=true) %}
    {%- do adapter.drop_relation(relation) %}
{% endmacro %}
