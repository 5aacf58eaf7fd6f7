import { MenuItem, TextField } from '@material-ui/core';

/** A labelled select whose empty value means "any". */
export function FilterSelect(props: {
  label: string;
  value: string;
  options: Array<{ value: string; label: string }>;
  onChange: (value: string) => void;
}) {
  return (
    <TextField
      select
      id={`canary-filter-${props.label.toLowerCase()}`}
      label={props.label}
      value={props.value}
      onChange={e => props.onChange(e.target.value)}
      variant="outlined"
      size="small"
      style={{ minWidth: 200, marginRight: 16, marginBottom: 16 }}
      SelectProps={{ displayEmpty: true }}
      InputLabelProps={{ shrink: true }}
    >
      <MenuItem value="">Any</MenuItem>
      {props.options.map(option => (
        <MenuItem key={option.value} value={option.value}>
          {option.label}
        </MenuItem>
      ))}
    </TextField>
  );
}
