//! The number INCRBYFLOAT and HINCRBYFLOAT compute with. Redis uses C `long double`, which on
//! x86-64 is the x87 80-bit format (64-bit significand, 15-bit exponent), parses with `strtold`
//! and prints with `%.17Lf` minus trailing zeros. An f64 gives other text for ordinary inputs
//! (`1.23 + 0.77 - 0.1` prints `1.9` in Redis, `1.89999999999999991` from an f64), so this
//! module is that format in software: parsing, addition and printing are each exact and then
//! rounded once to nearest-even, as the hardware and glibc do. Software also makes every
//! replica compute the same bits whatever CPU it runs on.
//!
//! Not accepted, unlike `strtold`: hexadecimal literals (`0x1p3`), as elsewhere in Tandem.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// Significand bits of the x87 extended format (the integer bit is explicit).
const SIGNIFICAND_BITS: u64 = 64;
/// A value is `significand × 2^exponent`; the exponent of the smallest subnormal, 2^-16445.
const EXPONENT_MIN: i64 = -16445;
/// The largest exponent of a normalized significand: values stay below 2^16384.
const EXPONENT_MAX: i64 = 16384 - 64;
/// Redis refuses to parse a float text this long or longer (`MAX_LONG_DOUBLE_CHARS`).
const TEXT_BYTES_MAX: usize = 5 * 1024 - 1;
/// Decimal places `%.17Lf` prints before Redis trims trailing zeros.
const PRINTED_DECIMALS: u32 = 17;

/// An x87 extended-precision value: ±significand × 2^exponent, or ±infinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LongDouble {
    negative: bool,
    magnitude: Magnitude,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Magnitude {
    /// The top bit of `significand` is set, except for zero and subnormals (which have
    /// `exponent == EXPONENT_MIN`).
    Finite {
        significand: u64,
        exponent: i32,
    },
    Infinite,
}

impl LongDouble {
    pub const ZERO: LongDouble = LongDouble {
        negative: false,
        magnitude: Magnitude::Finite {
            significand: 0,
            exponent: 0,
        },
    };

    /// Redis's `string2ld`: the whole text must be a decimal float or inf/infinity (any case,
    /// optional sign), without leading space, shorter than 5120 bytes; NaN and a finite text
    /// that overflows to infinity or underflows to zero are refused (None).
    pub fn parse(text: &[u8]) -> Option<LongDouble> {
        if text.is_empty() || text.len() > TEXT_BYTES_MAX || is_c_space(text[0]) {
            return None;
        }
        let (negative, unsigned) = match text[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        if unsigned.eq_ignore_ascii_case(b"inf") || unsigned.eq_ignore_ascii_case(b"infinity") {
            return Some(LongDouble {
                negative,
                magnitude: Magnitude::Infinite,
            });
        }
        let decimal = Decimal::parse(unsigned)?;
        let value = decimal.to_long_double(negative);
        match value.magnitude {
            Magnitude::Infinite => None,
            Magnitude::Finite { significand: 0, .. } if !decimal.digits.is_zero() => None,
            Magnitude::Finite { .. } => Some(value),
        }
    }

    pub fn is_finite(self) -> bool {
        matches!(self.magnitude, Magnitude::Finite { .. })
    }

    /// `self + other` rounded to the format, or None when the sum is NaN or infinite (the
    /// results INCRBYFLOAT refuses to store).
    pub fn checked_add(self, other: LongDouble) -> Option<LongDouble> {
        let (
            Magnitude::Finite {
                significand: a,
                exponent: a_exp,
            },
            Magnitude::Finite {
                significand: b,
                exponent: b_exp,
            },
        ) = (self.magnitude, other.magnitude)
        else {
            return None;
        };
        if b == 0 {
            // x + ±0 is x, except that -0 + -0 stays -0 and -0 + +0 is +0.
            return Some(if a == 0 {
                LongDouble {
                    negative: self.negative && other.negative,
                    ..LongDouble::ZERO
                }
            } else {
                self
            });
        }
        if a == 0 {
            return Some(other);
        }
        let exponent = a_exp.min(b_exp);
        let a = Big::from_u64(a).shl((a_exp - exponent) as u64);
        let b = Big::from_u64(b).shl((b_exp - exponent) as u64);
        let (negative, sum) = if self.negative == other.negative {
            (self.negative, a.add(&b))
        } else {
            match a.cmp(&b) {
                Ordering::Greater => (self.negative, a.sub(&b)),
                Ordering::Less => (other.negative, b.sub(&a)),
                Ordering::Equal => return Some(LongDouble::ZERO),
            }
        };
        let value = round(negative, sum, i64::from(exponent));
        value.is_finite().then_some(value)
    }

    /// Redis's text for the value (`ld2string` in human mode): `%.17Lf`, trailing zeros and
    /// a bare '.' removed, and "-0" written "0".
    pub fn to_redis_string(self) -> String {
        let Magnitude::Finite {
            significand,
            exponent,
        } = self.magnitude
        else {
            return if self.negative { "-inf" } else { "inf" }.to_string();
        };
        let exponent = i64::from(exponent);
        let digits = if exponent >= 0 {
            // An integer: no fractional digits to print.
            Big::from_u64(significand).shl(exponent as u64).to_decimal()
        } else {
            // round(significand × 10^17 / 2^-exponent), ties to even, then a point 17
            // digits from the right.
            let mut scaled = Big::from_u64(significand);
            scaled.mul_add_small(10u32.pow(9), 0);
            scaled.mul_add_small(10u32.pow(PRINTED_DECIMALS - 9), 0);
            let shift = exponent.unsigned_abs();
            let mut fixed = scaled.shr(shift);
            let round_up = scaled.bit(shift - 1) && (scaled.any_below(shift - 1) || fixed.bit(0));
            if round_up {
                fixed.mul_add_small(1, 1);
            }
            let text = format!(
                "{:0>width$}",
                fixed.to_decimal(),
                width = PRINTED_DECIMALS as usize + 1
            );
            let (integer, fraction) = text.split_at(text.len() - PRINTED_DECIMALS as usize);
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() {
                integer.to_string()
            } else {
                format!("{integer}.{fraction}")
            }
        };
        if self.negative && digits != "0" {
            format!("-{digits}")
        } else {
            digits
        }
    }
}

/// C's `isspace` in the "C" locale.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A decimal literal: `digits × 10^exponent`.
struct Decimal {
    digits: Big,
    /// Number of significant decimal digits in `digits` (for range checks).
    digit_count: i64,
    exponent: i64,
}

impl Decimal {
    /// `digits [. digits] [e|E [+|-] digits]` (or `.digits`), consuming all of `text`.
    fn parse(text: &[u8]) -> Option<Decimal> {
        /// Exponents beyond this are out of range whatever the digits (texts are < 5120 bytes).
        const EXPONENT_CLAMP: i64 = 1 << 20;
        let mut digits = Big::zero();
        let mut digit_count = 0i64;
        let mut seen_digit = false;
        let mut exponent = 0i64;
        let mut index = 0;
        let mut in_fraction = false;
        while index < text.len() {
            match text[index] {
                digit @ b'0'..=b'9' => {
                    seen_digit = true;
                    if digit != b'0' || digit_count > 0 {
                        digits.mul_add_small(10, u32::from(digit - b'0'));
                        digit_count += 1;
                    }
                    if in_fraction {
                        exponent -= 1;
                    }
                }
                b'.' if !in_fraction => in_fraction = true,
                _ => break,
            }
            index += 1;
        }
        if !seen_digit {
            return None;
        }
        if index < text.len() {
            if !matches!(text[index], b'e' | b'E') {
                return None;
            }
            index += 1;
            let negative = match text.get(index) {
                Some(b'-') => {
                    index += 1;
                    true
                }
                Some(b'+') => {
                    index += 1;
                    false
                }
                _ => false,
            };
            let exponent_digits = &text[index..];
            if exponent_digits.is_empty() || !exponent_digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let written = exponent_digits.iter().fold(0i64, |acc, &d| {
                (acc * 10 + i64::from(d - b'0')).min(EXPONENT_CLAMP)
            });
            exponent += if negative { -written } else { written };
        }
        Some(Decimal {
            digits,
            digit_count,
            exponent,
        })
    }

    /// The nearest representable value (ties to even); may be infinite or zero.
    fn to_long_double(&self, negative: bool) -> LongDouble {
        if self.digits.is_zero() {
            return LongDouble {
                negative,
                ..LongDouble::ZERO
            };
        }
        // The value lies in [10^(magnitude-1), 10^magnitude). The format spans about
        // 3.6e-4951 ..= 1.2e4932, so far outside that the answer is known without arithmetic.
        let magnitude = self.digit_count + self.exponent;
        if magnitude > 4940 {
            return LongDouble {
                negative,
                magnitude: Magnitude::Infinite,
            };
        }
        if magnitude < -4960 {
            return LongDouble {
                negative,
                ..LongDouble::ZERO
            };
        }
        if self.exponent >= 0 {
            let mut exact = self.digits.clone();
            multiply_by_power_of_ten(&mut exact, self.exponent as u64);
            return round(negative, exact, 0);
        }
        // digits / 10^m: scale up by 2^shift so that the quotient has at least 66 bits, then
        // keep "some remainder was dropped" as one extra low bit, which rounding only needs
        // to know is non-zero.
        let m = self.exponent.unsigned_abs();
        let divisor_bits = (m as f64 * std::f64::consts::LOG2_10).floor() as i64 + 1;
        let shift = (69 + divisor_bits - self.digits.bit_len() as i64).max(0) as u64;
        let mut quotient = self.digits.shl(shift);
        let mut inexact = false;
        let mut left = m;
        while left > 0 {
            let step = left.min(9);
            inexact |= quotient.div_small(10u32.pow(step as u32)) != 0;
            left -= step;
        }
        let mut with_sticky = quotient.shl(1);
        if inexact {
            with_sticky.mul_add_small(1, 1);
        }
        round(negative, with_sticky, -(shift as i64) - 1)
    }
}

fn multiply_by_power_of_ten(value: &mut Big, mut power: u64) {
    while power > 0 {
        let step = power.min(9);
        value.mul_add_small(10u32.pow(step as u32), 0);
        power -= step;
    }
}

/// Rounds `value × 2^exponent` to the format: 64 significant bits, ties to even, gradual
/// underflow below 2^-16382, infinity at 2^16384 and above.
fn round(negative: bool, value: Big, exponent: i64) -> LongDouble {
    let zero = LongDouble {
        negative,
        ..LongDouble::ZERO
    };
    if value.is_zero() {
        return zero;
    }
    let length = value.bit_len() as i64;
    // Bits to drop: enough to fit 64 bits, and more if that would go below the smallest
    // subnormal exponent.
    let drop = (length - SIGNIFICAND_BITS as i64).max(EXPONENT_MIN - exponent);
    let mut exponent = exponent + drop;
    let significand = if drop <= 0 {
        value.shl(drop.unsigned_abs()).low_u64()
    } else {
        let drop = drop as u64;
        let kept = value.shr(drop).low_u64();
        let round_up = value.bit(drop - 1) && (value.any_below(drop - 1) || kept & 1 == 1);
        if !round_up {
            kept
        } else if kept == u64::MAX {
            exponent += 1;
            1 << 63
        } else {
            kept + 1
        }
    };
    if significand == 0 {
        return zero;
    }
    if exponent > EXPONENT_MAX {
        return LongDouble {
            negative,
            magnitude: Magnitude::Infinite,
        };
    }
    LongDouble {
        negative,
        magnitude: Magnitude::Finite {
            significand,
            exponent: exponent as i32,
        },
    }
}

/// A non-negative integer of any size: little-endian 32-bit limbs, no zero limbs on top.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn zero() -> Big {
        Big(Vec::new())
    }

    fn from_u64(value: u64) -> Big {
        let mut big = Big(vec![value as u32, (value >> 32) as u32]);
        big.trim();
        big
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn bit_len(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(top) => (self.0.len() as u64 - 1) * 32 + u64::from(32 - top.leading_zeros()),
        }
    }

    fn low_u64(&self) -> u64 {
        let limb = |i: usize| u64::from(self.0.get(i).copied().unwrap_or(0));
        limb(0) | limb(1) << 32
    }

    fn bit(&self, index: u64) -> bool {
        let limb = (index / 32) as usize;
        self.0
            .get(limb)
            .is_some_and(|value| value >> (index % 32) & 1 == 1)
    }

    /// Whether any bit below position `index` is set.
    fn any_below(&self, index: u64) -> bool {
        let full = ((index / 32) as usize).min(self.0.len());
        let partial = (index % 32) as u32;
        self.0[..full].iter().any(|&limb| limb != 0)
            || (partial > 0
                && self
                    .0
                    .get(full)
                    .is_some_and(|&limb| limb & ((1u32 << partial) - 1) != 0))
    }

    /// `self = self × multiplier + addend`.
    fn mul_add_small(&mut self, multiplier: u32, addend: u32) {
        let mut carry = u64::from(addend);
        for limb in &mut self.0 {
            let value = u64::from(*limb) * u64::from(multiplier) + carry;
            *limb = value as u32;
            carry = value >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
    }

    /// `self = self / divisor`; returns the remainder.
    fn div_small(&mut self, divisor: u32) -> u32 {
        let divisor = u64::from(divisor);
        let mut remainder = 0u64;
        for limb in self.0.iter_mut().rev() {
            let value = remainder << 32 | u64::from(*limb);
            *limb = (value / divisor) as u32;
            remainder = value % divisor;
        }
        self.trim();
        remainder as u32
    }

    fn shl(&self, bits: u64) -> Big {
        if self.is_zero() {
            return Big::zero();
        }
        let partial = (bits % 32) as u32;
        let mut limbs = vec![0u32; (bits / 32) as usize];
        limbs.reserve(self.0.len() + 1);
        if partial == 0 {
            limbs.extend_from_slice(&self.0);
        } else {
            let mut carry = 0u32;
            for &limb in &self.0 {
                limbs.push(limb << partial | carry);
                carry = limb >> (32 - partial);
            }
            limbs.push(carry);
        }
        let mut big = Big(limbs);
        big.trim();
        big
    }

    fn shr(&self, bits: u64) -> Big {
        let skip = (bits / 32) as usize;
        if skip >= self.0.len() {
            return Big::zero();
        }
        let partial = (bits % 32) as u32;
        let source = &self.0[skip..];
        let limbs: Vec<u32> = source
            .iter()
            .enumerate()
            .map(|(i, &limb)| match (partial, source.get(i + 1)) {
                (0, _) => limb,
                (_, Some(&next)) => limb >> partial | next << (32 - partial),
                (_, None) => limb >> partial,
            })
            .collect();
        let mut big = Big(limbs);
        big.trim();
        big
    }

    fn add(&self, other: &Big) -> Big {
        let (long, short) = if self.0.len() >= other.0.len() {
            (self, other)
        } else {
            (other, self)
        };
        let mut limbs = Vec::with_capacity(long.0.len() + 1);
        let mut carry = 0u64;
        for (i, &limb) in long.0.iter().enumerate() {
            let sum = u64::from(limb) + u64::from(short.0.get(i).copied().unwrap_or(0)) + carry;
            limbs.push(sum as u32);
            carry = sum >> 32;
        }
        if carry > 0 {
            limbs.push(carry as u32);
        }
        Big(limbs)
    }

    /// `self - other`; the caller has checked `self >= other`.
    fn sub(&self, other: &Big) -> Big {
        let mut limbs = Vec::with_capacity(self.0.len());
        let mut borrow = 0i64;
        for (i, &limb) in self.0.iter().enumerate() {
            let mut difference =
                i64::from(limb) - i64::from(other.0.get(i).copied().unwrap_or(0)) - borrow;
            borrow = i64::from(difference < 0);
            if difference < 0 {
                difference += 1 << 32;
            }
            limbs.push(difference as u32);
        }
        debug_assert_eq!(borrow, 0, "sub needs self >= other");
        let mut big = Big(limbs);
        big.trim();
        big
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    fn to_decimal(&self) -> String {
        if self.is_zero() {
            return "0".to_string();
        }
        let mut rest = self.clone();
        let mut chunks = Vec::new();
        while !rest.is_zero() {
            chunks.push(rest.div_small(1_000_000_000));
        }
        let mut text = chunks.pop().map(|top| top.to_string()).unwrap_or_default();
        for chunk in chunks.iter().rev() {
            text.push_str(&format!("{chunk:09}"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(text: &str) -> LongDouble {
        LongDouble::parse(text.as_bytes()).unwrap_or_else(|| panic!("{text:?} should parse"))
    }

    fn sum(a: &str, b: &str) -> String {
        ld(a).checked_add(ld(b)).expect("finite").to_redis_string()
    }

    /// Expected texts are what Redis 7.0 on x86-64 answers for `SET k a` + `INCRBYFLOAT k b`.
    #[test]
    fn sums_print_as_redis_does() {
        let cases = [
            ("1.23", "0.77", "2"),
            ("2", "-0.1", "1.9"),
            ("0.1", "0.2", "0.3"),
            ("10.5", "0.1", "10.6"),
            ("17179869184", "1.5", "17179869185.5"),
            ("17179869184", "17179869184", "34359738368"),
            ("1", "-1.1", "-0.1"),
            ("0.024390243902439025", "-0.024390243902439025", "0"),
            ("5.0e3", "2.0e2", "5200"),
            ("1e-18", "0", "0"),
            ("-1e-18", "0", "0"),
            ("1e20", "1", "100000000000000000000"),
            ("3.0000000000000001", "0", "3.0000000000000001"),
            ("18446744073709551617", "0", "18446744073709551616"),
            ("18446744073709551619", "0", "18446744073709551620"),
            ("0", "1.5e-5", "0.000015"),
            ("-0", "-0", "0"),
            ("1e300", "1e300", "2000000000000000000017994648159118387741047888546581495876520164642531293192361871511698304167500994380700745017228549671807185112369345967826192521041497292574654271283687306588168510215212033579453305864740061102765895241989080589545563779241212358535223254194821301134374772211380178849830208012288"),
        ];
        for (a, b, expected) in cases {
            assert_eq!(sum(a, b), expected, "{a} + {b}");
        }
    }

    #[test]
    fn parse_follows_string2ld() {
        for good in [
            "1",
            "+1.5",
            "-.5",
            "5.",
            "1e5",
            "1E+5",
            "1e-5",
            "inf",
            "-Infinity",
            "0e99999999",
        ] {
            assert!(LongDouble::parse(good.as_bytes()).is_some(), "{good}");
        }
        for bad in [
            "", " 1", "1 ", "\t1", "1e", "1e+", ".", "e5", "nan", "-nan", "1.5x", "1..2", "0x10",
            "inf1", "1\x002", "1e5000", "1e-5000",
        ] {
            assert!(LongDouble::parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
        // Beyond f64 but within the extended range.
        assert_eq!(
            ld("1e400").to_redis_string(),
            "10000000000000000000281880683947586514586453433629052038625910693539685534008629862039363994848324160522094053927317616200295822777259255734023828976593340661017797447434546173917862448116674971723778943824391593338047470675026246684401359237513603830343735485505244955964979021825038280091068414947402456898653040951017512658092615827588920183472511643316591362664138176309734806343732497430221946880"
        );
        assert!(
            LongDouble::parse("1e-4940".as_bytes()).is_some(),
            "a subnormal is accepted"
        );
        let long = |len: usize| format!("{}1", "0".repeat(len - 1));
        assert_eq!(LongDouble::parse(long(5119).as_bytes()), Some(ld("1")));
        assert_eq!(LongDouble::parse(long(5120).as_bytes()), None, "too long");
    }

    #[test]
    fn infinities_and_overflow_are_not_finite_sums() {
        assert_eq!(ld("inf").checked_add(ld("1")), None);
        assert_eq!(ld("1").checked_add(ld("-inf")), None);
        let big = ld("1.1e4932");
        assert_eq!(big.checked_add(big), None, "overflow");
        assert_eq!(big.checked_add(ld("-1.1e4932")), Some(LongDouble::ZERO));
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        // 2^64 + 1 needs 65 bits: the tie rounds down to the even 2^64.
        assert_eq!(
            ld("18446744073709551617").to_redis_string(),
            "18446744073709551616"
        );
        // 2^64 + 3: the tie rounds up to 2^64 + 4.
        assert_eq!(
            ld("18446744073709551619").to_redis_string(),
            "18446744073709551620"
        );
        assert_eq!(sum("18446744073709551616", "1"), "18446744073709551616");
    }

    #[test]
    fn big_integer_basics() {
        let a = Big::from_u64(u64::MAX);
        let b = a.shl(70);
        assert_eq!(b.bit_len(), 134);
        assert_eq!(b.shr(70), a);
        assert!(b.bit(70) && !b.bit(69) && !b.any_below(70) && b.any_below(71));
        assert_eq!(b.add(&a).sub(&a), b);
        assert_eq!(b.cmp(&a), Ordering::Greater);
        assert_eq!(a.to_decimal(), u64::MAX.to_string());
        let mut c = Big::from_u64(1_000_000_007);
        assert_eq!(c.div_small(1000), 7);
        assert_eq!(c.to_decimal(), "1000000");
    }
}
