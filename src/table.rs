//! Plain-text tables for the listings (`sbx ps`, `sbx network ls`): pure
//! formatting, below every module that prints one.

/// Left-aligned columns separated by three spaces, the last one unpadded.
pub fn format_columns(lines: &[Vec<String>]) -> String {
    let columns = lines.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    // One buffer for the whole table (`ps` at 1000 sandboxes: 7000 cells).
    let width: usize = widths.iter().map(|w| w + 3).sum();
    let mut out = String::with_capacity(lines.len() * (width + 1));
    for line in lines {
        for (c, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if c + 1 < columns {
                let pad = widths[c] - cell.chars().count() + 3;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_align() {
        let lines = vec![
            vec!["A".to_string(), "B".to_string()],
            vec!["long".to_string(), "x".to_string()],
        ];
        assert_eq!(super::format_columns(&lines), "A      B\nlong   x\n");
    }
}
