//! Resolution tables: rounding, range ownership at every edge, codes, and invalid tables.

use logvault_protocol::{ResolutionError, ResolutionTable};

use crate::fixtures::temperature_table;

#[test]
fn quantizing_rounds_to_the_step_of_the_range_that_owns_the_value() {
    let table = temperature_table();
    // (input, scaled) in milli-°C; the table is 0.5 below −30, 0.1 up to +50, 0.5 above.
    let cases = [
        (-40_001, None),          // below the table
        (-40_000, Some(-40_000)), // lowest value
        (-39_750, Some(-39_500)), // half-way rounds up
        (-39_751, Some(-40_000)),
        (-30_501, Some(-30_500)),
        (-30_300, Some(-30_500)), // 0.5 grid below −30
        (-30_250, Some(-30_000)), // half-way between −30.5 and −30.0 rounds up onto the edge
        (-30_001, Some(-30_000)), // still the 0.5 range, rounds onto the edge
        (-30_000, Some(-30_000)), // the edge is owned by the 0.1 range
        (-29_999, Some(-30_000)),
        (-29_950, Some(-29_900)), // 0.1 grid
        (-29_949, Some(-29_900)),
        (-29_951, Some(-30_000)),
        (-50, Some(0)),
        (-51, Some(-100)),
        (49_949, Some(49_900)),
        (49_950, Some(50_000)), // rounds up onto the upper edge
        (49_999, Some(50_000)),
        (50_000, Some(50_000)), // owned by the 0.5 range above
        (50_249, Some(50_000)),
        (50_250, Some(50_500)),
        (124_750, Some(125_000)),
        (125_000, Some(125_000)), // highest value, included
        (125_001, None),          // above the table
    ];
    for (input, expected) in cases {
        let scaled = table.quantize(input).and_then(|code| table.value_of(code));
        assert_eq!(scaled, expected, "input {input}");
    }
}

#[test]
fn values_outside_the_table_saturate_to_its_ends() {
    let table = temperature_table();
    assert_eq!(table.scale(-273_150), -40_000);
    assert_eq!(table.scale(i32::MIN), -40_000);
    assert_eq!(table.scale(125_001), 125_000);
    assert_eq!(table.scale(i32::MAX), 125_000);
}

#[test]
fn only_values_on_the_owning_range_grid_have_a_code() {
    let table = temperature_table();
    for (value, on_grid) in [
        (-30_500, true),
        (-30_100, false), // below −30 the grid is 0.5
        (-30_000, true),
        (-29_900, true),
        (-29_950, false),
        (49_900, true),
        (50_000, true),
        (50_100, false), // above +50 the grid is 0.5
        (50_500, true),
        (125_000, true),
        (125_500, false),
    ] {
        assert_eq!(table.code_of(value).is_some(), on_grid, "value {value}");
    }
}

#[test]
fn codes_are_consecutive_across_range_edges() {
    let table = temperature_table();
    let code = |value| table.code_of(value).unwrap_or_else(|| panic!("{value} has no code"));
    assert_eq!(code(-40_000), 0);
    assert_eq!(code(-30_000) - code(-30_500), 1);
    assert_eq!(code(-29_900) - code(-30_000), 1);
    assert_eq!(code(50_000) - code(49_900), 1);
    assert_eq!(code(50_500) - code(50_000), 1);
    assert_eq!(table.n_codes(), 20 + 800 + 150 + 1);
    assert_eq!(code(125_000), table.n_codes() - 1);
    assert_eq!(table.value_of(table.n_codes()), None);
    // Every code maps back to a value that maps to the same code.
    let mut previous = None;
    for code in 0..table.n_codes() {
        let value = table.value_of(code).unwrap_or_else(|| panic!("code {code} has no value"));
        assert_eq!(table.code_of(value), Some(code));
        assert!(previous.is_none_or(|p| p < value), "values increase with codes");
        previous = Some(value);
    }
}

#[test]
fn invalid_tables_are_refused_with_the_precise_reason() {
    type Case = (i32, &'static [(u32, i32)], ResolutionError);
    let cases: [Case; 6] = [
        (0, &[], ResolutionError::RangeCount),
        (0, &[(1, 1); 17], ResolutionError::RangeCount),
        (0, &[(0, 10)], ResolutionError::ZeroStep { range_idx: 0 }),
        (0, &[(1, 10), (1, 10)], ResolutionError::EmptyRange { range_idx: 1 }),
        (0, &[(1, 10), (3, 20)], ResolutionError::StepDoesNotDivideRange { range_idx: 1 }),
        (i32::MIN, &[(1, i32::MAX)], ResolutionError::TooManyCodes),
    ];
    for (lowest, ranges, expected) in cases {
        assert_eq!(ResolutionTable::new(lowest, ranges), Err(expected), "{ranges:?}");
    }
}

/// docs/protocol.md § Resolution tables: every grid value is an `i32` of thousandths and a table holds at most 2^30
/// grid values counting the closing bound; the encoder's tables obey the same rule the decoder enforces.
#[test]
fn the_widest_table_spans_all_of_i32_with_exactly_2_to_the_30_values_and_one_more_is_refused() {
    let widest = ResolutionTable::new(i32::MIN, &[(4, i32::MAX - 3)]).expect("2^30 values");
    assert_eq!(widest.n_codes(), logvault_protocol::MAX_CODES);
    assert_eq!(widest.value_of(0), Some(i32::MIN));
    assert_eq!(widest.value_of(logvault_protocol::MAX_CODES - 1), Some(i32::MAX - 3));
    assert_eq!(widest.value_of(logvault_protocol::MAX_CODES), None);
    // 2^30 steps make 2^30 + 1 values with the closing bound: one too many.
    assert_eq!(ResolutionTable::new(0, &[(1, 1 << 30)]), Err(ResolutionError::TooManyCodes));
    assert_eq!(ResolutionTable::new(0, &[(1, (1 << 30) - 1)]).map(|t| t.n_codes()), Ok(1 << 30));
}
