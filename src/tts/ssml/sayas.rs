// SPDX-License-Identifier: MPL-2.0
//! `say-as`: the text a reader would say for `characters`, `cardinal`, `ordinal`, `digits`,
//! `date` and `telephone` content. The result is ordinary text for the phonemizer, which reads
//! numbers in the voice's language; ordinal suffixes and month names are English.

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The text to speak for `content` read as `interpret_as` (with `format` for dates); `Err`
/// says why it could not be (the content is then spoken as written).
pub fn expand(interpret_as: &str, format: Option<&str>, content: &str) -> Result<String, String> {
    let content = content.trim();
    match interpret_as {
        "characters" | "spell-out" | "verbatim" => Ok(spell(content)),
        "cardinal" | "number" => {
            cardinal(content).ok_or_else(|| format!("{content:?} is not a cardinal number"))
        }
        "ordinal" => ordinal(content).ok_or_else(|| format!("{content:?} is not an ordinal")),
        "digits" => Ok(spell(content)),
        "date" => date(content, format).ok_or_else(|| {
            format!(
                "{content:?} is not a date in format {:?}",
                format.unwrap_or("mdy")
            )
        }),
        "telephone" | "phone" => Ok(telephone(content)),
        "" => Err("no interpret-as".into()),
        other => Err(format!("interpret-as {other:?} is not supported")),
    }
}

/// Each character on its own, separated by spaces (letters upper-cased, so that a lone `a` is
/// the letter and not the article).
fn spell(content: &str) -> String {
    let mut out = String::with_capacity(content.len() * 2);
    for c in content.chars().filter(|c| !c.is_whitespace()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(c.to_uppercase());
    }
    out
}

/// A number without its thousands separators (`1,234,567` → `1234567`).
fn cardinal(content: &str) -> Option<String> {
    let (sign, digits) = match content.strip_prefix(['-', '−']) {
        Some(rest) => ("-", rest),
        None => ("", content.strip_prefix('+').unwrap_or(content)),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let groups: Vec<&str> = int.split(',').collect();
    let grouped_ok = groups.len() == 1
        || (groups[0].len() <= 3
            && !groups[0].is_empty()
            && groups[1..].iter().all(|g| g.len() == 3));
    let int: String = groups.concat();
    let valid = !int.is_empty()
        && grouped_ok
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    if !valid {
        return None;
    }
    Some(match frac {
        Some(f) => format!("{sign}{int}.{f}"),
        None => format!("{sign}{int}"),
    })
}

/// `n` with its English ordinal suffix: `1st`, `2nd`, `3rd`, `11th`, `22nd`.
fn with_suffix(n: u64) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn ordinal(content: &str) -> Option<String> {
    let lower = content.to_ascii_lowercase();
    let bare = ["st", "nd", "rd", "th", "."]
        .iter()
        .find_map(|s| lower.strip_suffix(s))
        .unwrap_or(&lower);
    let n: u64 = cardinal(bare)?.parse().ok()?;
    Some(with_suffix(n))
}

/// A date whose numeric fields (separated by `-`, `/`, `.` or spaces) are in `format` order
/// (`mdy`, `dmy`, `ymd`, `md`, `dm`, `ym`, `my`, `y`, `m`, `d`; default: `ymd` when the first
/// field has four digits, else `mdy`), read as "March 5th, 2024".
fn date(content: &str, format: Option<&str>) -> Option<String> {
    let fields: Vec<&str> = content
        .split(|c: char| matches!(c, '-' | '/' | '.') || c.is_whitespace())
        .filter(|f| !f.is_empty())
        .collect();
    let format = format.map(str::to_ascii_lowercase).unwrap_or_else(|| {
        if fields.first().is_some_and(|f| f.len() == 4) {
            "ymd".into()
        } else {
            "mdy".into()
        }
    });
    if fields.len() != format.len() || fields.iter().any(|f| f.len() > 4) {
        return None;
    }
    let (mut year, mut month, mut day) = (None, None, None);
    for (letter, field) in format.chars().zip(&fields) {
        let value: u32 = field.parse().ok()?;
        let slot = match letter {
            'y' => &mut year,
            'm' => &mut month,
            'd' => &mut day,
            _ => return None,
        };
        if slot.replace(value).is_some() {
            return None;
        }
    }
    let month_name = match month {
        Some(m @ 1..=12) => Some(MONTHS[m as usize - 1]),
        Some(_) => return None,
        None => None,
    };
    if day.is_some_and(|d| !(1..=31).contains(&d)) {
        return None;
    }
    let day = day.map(|d| with_suffix(u64::from(d)));
    Some(match (month_name, day, year) {
        (Some(m), Some(d), Some(y)) => format!("{m} {d}, {y}"),
        (Some(m), Some(d), None) => format!("{m} {d}"),
        (Some(m), None, Some(y)) => format!("{m} {y}"),
        (Some(m), None, None) => m.to_owned(),
        (None, Some(d), _) => format!("the {d}"),
        (None, None, Some(y)) => y.to_string(),
        (None, None, None) => return None,
    })
}

/// A telephone number digit by digit, its groups separated by commas (a short pause), `+`
/// read as "plus".
fn telephone(content: &str) -> String {
    let mut groups: Vec<String> = Vec::new();
    let mut group = String::new();
    let close = |group: &mut String, groups: &mut Vec<String>| {
        if !group.is_empty() {
            groups.push(std::mem::take(group));
        }
    };
    for c in content.chars() {
        if c == '+' && groups.is_empty() && group.is_empty() {
            groups.push("plus".into());
        } else if c.is_alphanumeric() {
            if !group.is_empty() {
                group.push(' ');
            }
            group.extend(c.to_uppercase());
        } else {
            close(&mut group, &mut groups);
        }
    }
    close(&mut group, &mut groups);
    groups.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_and_digits_are_spelled() {
        assert_eq!(expand("characters", None, " GST ").unwrap(), "G S T");
        assert_eq!(expand("spell-out", None, "a b").unwrap(), "A B");
        assert_eq!(expand("digits", None, "1234").unwrap(), "1 2 3 4");
    }

    #[test]
    fn numbers() {
        assert_eq!(expand("cardinal", None, "1,234,567").unwrap(), "1234567");
        assert_eq!(expand("cardinal", None, "-3.50").unwrap(), "-3.50");
        assert!(expand("cardinal", None, "12,34").is_err());
        assert!(expand("cardinal", None, "twelve").is_err());
        assert_eq!(expand("ordinal", None, "1").unwrap(), "1st");
        assert_eq!(expand("ordinal", None, "22").unwrap(), "22nd");
        assert_eq!(expand("ordinal", None, "113").unwrap(), "113th");
        assert_eq!(expand("ordinal", None, "3rd").unwrap(), "3rd");
        assert!(expand("ordinal", None, "1.5").is_err());
    }

    #[test]
    fn dates_in_each_format() {
        assert_eq!(
            expand("date", Some("mdy"), "3/5/2024").unwrap(),
            "March 5th, 2024"
        );
        assert_eq!(
            expand("date", Some("dmy"), "05.03.2024").unwrap(),
            "March 5th, 2024"
        );
        assert_eq!(
            expand("date", Some("ymd"), "2024-03-05").unwrap(),
            "March 5th, 2024"
        );
        assert_eq!(
            expand("date", None, "2024-12-25").unwrap(),
            "December 25th, 2024"
        );
        assert_eq!(expand("date", Some("md"), "7/4").unwrap(), "July 4th");
        assert_eq!(expand("date", Some("my"), "7/1969").unwrap(), "July 1969");
        assert!(expand("date", Some("mdy"), "13/5/2024").is_err());
        assert!(expand("date", Some("dmy"), "32/1/2024").is_err());
        assert!(expand("date", Some("mdy"), "3/5").is_err());
        assert!(expand("date", Some("mmy"), "3/5/2024").is_err());
    }

    #[test]
    fn telephone_numbers_in_groups() {
        assert_eq!(
            expand("telephone", None, "+1 (555) 123-4567").unwrap(),
            "plus, 1, 5 5 5, 1 2 3, 4 5 6 7"
        );
        assert_eq!(expand("telephone", None, "0800").unwrap(), "0 8 0 0");
    }

    #[test]
    fn unsupported_kinds_say_so() {
        assert!(expand("currency", None, "$5").is_err());
        assert!(expand("", None, "x").is_err());
    }
}
