//! Characters and X keysyms, both ways: what to ask a keymap for when a character must be typed,
//! and which character a key of the user's layout produces (Russian layouts use X's legacy
//! Cyrillic keysyms, not the Unicode ones, so a table is needed to recognise their keys).

/// An X keysym (the same numbers on Wayland, through xkbcommon).
pub type Keysym = u32;

/// No symbol.
pub const NO_SYMBOL: Keysym = 0;
/// Left Shift.
pub const SHIFT_L: Keysym = 0xffe1;
/// Left Control.
pub const CONTROL_L: Keysym = 0xffe3;
/// Caps Lock.
pub const CAPS_LOCK: Keysym = 0xffe5;
const RETURN: Keysym = 0xff0d;
const TAB: Keysym = 0xff09;
/// Offset of the keysyms that stand for a Unicode code point.
const UNICODE: Keysym = 0x0100_0000;

/// Legacy keysyms 0x6a1..=0x6ff, the Cyrillic block of X's keysymdef.h, in order; 0x6b0 is «№».
const CYRILLIC: [char; 95] = [
    'ђ', 'ѓ', 'ё', 'є', 'ѕ', 'і', 'ї', 'ј', 'љ', 'њ', 'ћ', 'ќ', 'ґ', 'ў', 'џ', '№', 'Ђ', 'Ѓ', 'Ё',
    'Є', 'Ѕ', 'І', 'Ї', 'Ј', 'Љ', 'Њ', 'Ћ', 'Ќ', 'Ґ', 'Ў', 'Џ', 'ю', 'а', 'б', 'ц', 'д', 'е', 'ф',
    'г', 'х', 'и', 'й', 'к', 'л', 'м', 'н', 'о', 'п', 'я', 'р', 'с', 'т', 'у', 'ж', 'в', 'ь', 'ы',
    'з', 'ш', 'э', 'щ', 'ч', 'ъ', 'Ю', 'А', 'Б', 'Ц', 'Д', 'Е', 'Ф', 'Г', 'Х', 'И', 'Й', 'К', 'Л',
    'М', 'Н', 'О', 'П', 'Я', 'Р', 'С', 'Т', 'У', 'Ж', 'В', 'Ь', 'Ы', 'З', 'Ш', 'Э', 'Щ', 'Ч', 'Ъ',
];
const CYRILLIC_FIRST: Keysym = 0x6a1;

/// The keysym that types `c`, or `None` for a control character that no key types.
pub fn for_char(c: char) -> Option<Keysym> {
    let code = u32::from(c);
    match c {
        '\n' => Some(RETURN),
        '\t' => Some(TAB),
        c if c.is_control() => None,
        // Latin-1's printable characters are their own keysyms.
        _ if (0x20..=0x7e).contains(&code) || (0xa0..=0xff).contains(&code) => Some(code),
        _ => Some(UNICODE | code),
    }
}

/// The character a keysym produces, for the keysyms a layout's character keys carry: Latin-1,
/// Unicode and legacy Cyrillic; `None` for the rest (function keys, modifiers, other legacy
/// blocks — characters that are then typed through a keysym of rech's own).
pub fn to_char(keysym: Keysym) -> Option<char> {
    match keysym {
        0x20..=0x7e | 0xa0..=0xff => char::from_u32(keysym),
        RETURN => Some('\n'),
        TAB => Some('\t'),
        0x6a1..=0x6ff => Some(CYRILLIC[(keysym - CYRILLIC_FIRST) as usize]),
        _ if keysym & 0xff00_0000 == UNICODE => {
            char::from_u32(keysym & 0x00ff_ffff).filter(|c| !c.is_control())
        }
        _ => None,
    }
}

/// The name xkbcommon reads for a keysym in a keymap's text.
pub fn xkb_name(keysym: Keysym) -> String {
    match keysym {
        RETURN => "Return".into(),
        TAB => "Tab".into(),
        SHIFT_L => "Shift_L".into(),
        CONTROL_L => "Control_L".into(),
        // Latin-1 keysyms are their code points; xkbcommon reads `U002C` back as 0x2c.
        0x20..=0xff => format!("U{keysym:04X}"),
        _ if keysym & 0xff00_0000 == UNICODE => format!("U{:04X}", keysym & 0x00ff_ffff),
        _ => format!("0x{keysym:08x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_character_of_russian_text_round_trips() {
        for c in "Привет, мир! Ёж — 25%. «ёЁъЪ» № \n\t".chars() {
            let keysym = for_char(c).unwrap();
            assert_eq!(to_char(keysym), Some(c), "{c:?} -> {keysym:#x}");
        }
    }

    #[test]
    fn legacy_cyrillic_keysyms_are_the_letters_of_a_russian_layout() {
        // The values a `ru` layout carries (xkeyboard-config), as X's keysymdef.h names them.
        assert_eq!(to_char(0x6f0), Some('П')); // Cyrillic_PE
        assert_eq!(to_char(0x6d2), Some('р')); // Cyrillic_er
        assert_eq!(to_char(0x6a3), Some('ё')); // Cyrillic_io
        assert_eq!(to_char(0x6b3), Some('Ё')); // Cyrillic_IO
        assert_eq!(to_char(0x6b0), Some('№')); // numerosign
        assert_eq!(to_char(0x6ff), Some('Ъ')); // Cyrillic_HARDSIGN
        assert_eq!(to_char(0x6c0), Some('ю')); // Cyrillic_yu
    }

    #[test]
    fn control_characters_and_function_keys_have_no_character() {
        assert_eq!(for_char('\u{7}'), None);
        assert_eq!(for_char('\u{85}'), None);
        assert_eq!(to_char(SHIFT_L), None);
        assert_eq!(to_char(0xffbe), None); // F1
        assert_eq!(to_char(0x0100_0007), None);
    }

    #[test]
    fn keymap_names_are_ones_xkbcommon_reads() {
        assert_eq!(xkb_name(for_char('П').unwrap()), "U041F");
        assert_eq!(xkb_name(for_char('\n').unwrap()), "Return");
        assert_eq!(xkb_name(for_char(',').unwrap()), "U002C");
        assert_eq!(xkb_name(for_char('😀').unwrap()), "U1F600");
    }
}
