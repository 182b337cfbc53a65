{#- on-run-start: when the build includes marts.fct_features, its label columns
    (one label_fwd_return_<h>, label_direction_<h>, label_xs_rank_<h> and
    label_xs_excess_<h> per h in var label_horizons) must be the ones its YAML
    lists, since its contract names every column. A horizon nobody listed stops
    the build before anything runs, naming each missing (or extra) column,
    instead of failing after the upstream models were rebuilt. -#}
{% macro check_label_columns() %}
    {%- set node_id = 'model.' ~ project_name ~ '.fct_features' %}
    {%- if execute and node_id in selected_resources %}
        {%- set node = graph.nodes[node_id] %}
        {%- set listed = [] %}
        {%- for column in node.columns if column.startswith('label_') %}
            {%- do listed.append(column) %}
        {%- endfor %}
        {%- set wanted = [] %}
        {%- for h in label_horizons() %}
            {%- for kind in ['fwd_return', 'direction', 'xs_rank', 'xs_excess'] %}
                {%- do wanted.append('label_' ~ kind ~ '_' ~ h) %}
            {%- endfor %}
        {%- endfor %}
        {%- set missing = wanted | reject('in', listed) | list %}
        {%- set extra = listed | reject('in', wanted) | list %}
        {%- if missing or extra %}
            {{ exceptions.raise_compiler_error(
                "var label_horizons " ~ label_horizons()
                ~ " disagrees with the contract of fct_features ("
                ~ node.original_file_path | replace('.sql', '.yml') ~ "): "
                ~ ("missing columns " ~ missing | join(', ') if missing else "")
                ~ ("; " if missing and extra else "")
                ~ ("columns of no horizon " ~ extra | join(', ') if extra else "")
                ~ ". List each horizon's four label columns there (see its"
                ~ " comment) or build with the horizons it lists."
            ) }}
        {%- endif %}
    {%- endif %}
    select 1
{% endmacro %}
