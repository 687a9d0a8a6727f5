//! Canonical JSON written straight from serde: every object's keys in byte order, integers
//! only, no whitespace — the encoding [`super::audit::canonical_json`] defines, without first
//! building a `serde_json::Value` tree (an allocation per field, then a second walk).
//!
//! A struct's or map's fields are written as they come, then put in key order in place. What
//! this writer does not handle itself — a float, a map key that is not a string, bytes, a
//! 128-bit integer — makes it give up ([`Unsupported`]); the caller then takes the `Value`
//! path, which gives the answer or the refusal for those. So both paths always agree, which
//! `audit`'s tests check on random values.

use std::borrow::Cow;
use std::fmt::Display;

use serde::ser::{self, Serialize};

/// The writer met something it leaves to the `Value` path.
#[derive(Debug)]
pub(super) struct Unsupported;

impl Display for Unsupported {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("left to the general encoder")
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: Display>(_message: T) -> Unsupported {
        Unsupported
    }
}

/// `value` as canonical JSON, or [`Unsupported`].
pub(super) fn to_string(value: &impl Serialize) -> Result<String, Unsupported> {
    let mut writer = Writer { out: Vec::with_capacity(256) };
    value.serialize(&mut writer)?;
    String::from_utf8(writer.out).map_err(|_| Unsupported)
}

/// Serializer methods that write an integer as serde_json does.
macro_rules! integers {
    ($($method:ident: $type:ty),*) => {$(
        fn $method(self, value: $type) -> Result<(), Unsupported> {
            self.integer(value);
            Ok(())
        }
    )*};
}

/// Serializer methods that leave their value to the `Value` path.
macro_rules! refused {
    ($($method:ident($($argument:ty),*) -> $ok:ty),*) => {$(
        fn $method(self, $(_: $argument),*) -> Result<$ok, Unsupported> {
            Err(Unsupported)
        }
    )*};
}

struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn string(&mut self, text: &str) -> Result<(), Unsupported> {
        serde_json::to_writer(&mut self.out, text).map_err(|_| Unsupported)
    }

    fn integer(&mut self, value: impl itoa::Integer) {
        self.out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    /// Opens `{"variant":` for an enum variant with content; [`Writer::close_variant`] closes it.
    fn open_variant(&mut self, variant: &str) -> Result<(), Unsupported> {
        self.out.push(b'{');
        self.string(variant)?;
        self.out.push(b':');
        Ok(())
    }

    fn close_variant(&mut self) {
        self.out.push(b'}');
    }
}

/// An array being written.
struct Array<'a> {
    writer: &'a mut Writer,
    first: bool,
    /// Closes an enclosing variant object too.
    in_variant: bool,
}

impl Array<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        if !self.first {
            self.writer.out.push(b',');
        }
        self.first = false;
        value.serialize(&mut *self.writer)
    }

    fn finish(self) {
        self.writer.out.push(b']');
        if self.in_variant {
            self.writer.close_variant();
        }
    }
}

/// An object being written: its values go to the output as they come, each with its key and
/// place; [`Object::finish`] rewrites them in key order.
struct Object<'a> {
    writer: &'a mut Writer,
    /// Where the first value starts (just after `{`).
    start: usize,
    /// Each field's key and the range of its value in the output.
    fields: Vec<(Cow<'static, str>, std::ops::Range<usize>)>,
    /// The key given by `serialize_key`, waiting for its value.
    pending_key: Option<String>,
    in_variant: bool,
}

impl<'a> Object<'a> {
    fn open(writer: &'a mut Writer, len: Option<usize>, in_variant: bool) -> Object<'a> {
        writer.out.push(b'{');
        let start = writer.out.len();
        Object { writer, start, fields: Vec::with_capacity(len.unwrap_or(8)), pending_key: None, in_variant }
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: Cow<'static, str>, value: &T) -> Result<(), Unsupported> {
        let from = self.writer.out.len();
        value.serialize(&mut *self.writer)?;
        self.fields.push((key, from..self.writer.out.len()));
        Ok(())
    }

    fn finish(mut self) -> Result<(), Unsupported> {
        let values = self.writer.out.split_off(self.start);
        // Stable: of equal keys the last one written wins, as in a map that is assigned twice.
        self.fields.sort_by(|left, right| left.0.as_bytes().cmp(right.0.as_bytes()));
        let mut first = true;
        for (index, (key, range)) in self.fields.iter().enumerate() {
            if self.fields.get(index + 1).is_some_and(|next| next.0 == *key) {
                continue;
            }
            if !first {
                self.writer.out.push(b',');
            }
            first = false;
            self.writer.string(key)?;
            self.writer.out.push(b':');
            let value = values.get(range.start - self.start..range.end - self.start).ok_or(Unsupported)?;
            self.writer.out.extend_from_slice(value);
        }
        self.writer.out.push(b'}');
        if self.in_variant {
            self.writer.close_variant();
        }
        Ok(())
    }
}

impl<'a> ser::Serializer for &'a mut Writer {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Array<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Object<'a>;

    fn serialize_bool(self, value: bool) -> Result<(), Unsupported> {
        self.out.extend_from_slice(if value { b"true" } else { b"false" });
        Ok(())
    }

    integers!(
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64
    );

    refused!(serialize_f32(f32) -> (), serialize_f64(f64) -> (), serialize_bytes(&[u8]) -> ());

    fn serialize_char(self, value: char) -> Result<(), Unsupported> {
        self.string(value.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, value: &str) -> Result<(), Unsupported> {
        self.string(value)
    }

    fn serialize_none(self) -> Result<(), Unsupported> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unsupported> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Unsupported> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Unsupported> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Unsupported> {
        self.string(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        self.open_variant(variant)?;
        value.serialize(&mut *self)?;
        self.close_variant();
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Array<'a>, Unsupported> {
        self.out.push(b'[');
        Ok(Array { writer: self, first: true, in_variant: false })
    }

    fn serialize_tuple(self, len: usize) -> Result<Array<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Array<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Array<'a>, Unsupported> {
        self.open_variant(variant)?;
        self.out.push(b'[');
        Ok(Array { writer: self, first: true, in_variant: true })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Object<'a>, Unsupported> {
        Ok(Object::open(self, len, false))
    }

    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Object<'a>, Unsupported> {
        Ok(Object::open(self, Some(len), false))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Object<'a>, Unsupported> {
        self.open_variant(variant)?;
        Ok(Object::open(self, Some(len), true))
    }
}

/// The four kinds of array serde writes, one way.
macro_rules! array_kinds {
    ($($kind:ident :: $method:ident),*) => {$(
        impl ser::$kind for Array<'_> {
            type Ok = ();
            type Error = Unsupported;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
                self.element(value)
            }

            fn end(self) -> Result<(), Unsupported> {
                self.finish();
                Ok(())
            }
        }
    )*};
}

array_kinds!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unsupported> {
        self.pending_key = Some(key.serialize(KeyWriter)?);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        let key = self.pending_key.take().ok_or(Unsupported)?;
        self.field(Cow::Owned(key), value)
    }

    fn end(self) -> Result<(), Unsupported> {
        self.finish()
    }
}

/// A struct and a struct variant's fields, one way.
macro_rules! struct_kinds {
    ($($kind:ident),*) => {$(
        impl ser::$kind for Object<'_> {
            type Ok = ();
            type Error = Unsupported;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Unsupported> {
                self.field(Cow::Borrowed(key), value)
            }

            fn end(self) -> Result<(), Unsupported> {
                self.finish()
            }
        }
    )*};
}

struct_kinds!(SerializeStruct, SerializeStructVariant);

/// A map key: only strings (and what serde writes as one) are handled here.
struct KeyWriter;

impl ser::Serializer for KeyWriter {
    type Ok = String;
    type Error = Unsupported;
    type SerializeSeq = ser::Impossible<String, Unsupported>;
    type SerializeTuple = ser::Impossible<String, Unsupported>;
    type SerializeTupleStruct = ser::Impossible<String, Unsupported>;
    type SerializeTupleVariant = ser::Impossible<String, Unsupported>;
    type SerializeMap = ser::Impossible<String, Unsupported>;
    type SerializeStruct = ser::Impossible<String, Unsupported>;
    type SerializeStructVariant = ser::Impossible<String, Unsupported>;

    fn serialize_str(self, value: &str) -> Result<String, Unsupported> {
        Ok(value.to_owned())
    }

    fn serialize_char(self, value: char) -> Result<String, Unsupported> {
        Ok(value.to_string())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String, Unsupported> {
        Ok(variant.to_owned())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String, Unsupported> {
        value.serialize(self)
    }

    refused!(
        serialize_none() -> String,
        serialize_unit() -> String,
        serialize_bool(bool) -> String,
        serialize_i8(i8) -> String,
        serialize_i16(i16) -> String,
        serialize_i32(i32) -> String,
        serialize_i64(i64) -> String,
        serialize_u8(u8) -> String,
        serialize_u16(u16) -> String,
        serialize_u32(u32) -> String,
        serialize_u64(u64) -> String,
        serialize_f32(f32) -> String,
        serialize_f64(f64) -> String,
        serialize_bytes(&[u8]) -> String,
        serialize_unit_struct(&'static str) -> String,
        serialize_seq(Option<usize>) -> Self::SerializeSeq,
        serialize_tuple(usize) -> Self::SerializeTuple,
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct,
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant,
        serialize_map(Option<usize>) -> Self::SerializeMap,
        serialize_struct(&'static str, usize) -> Self::SerializeStruct,
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant
    );

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<String, Unsupported> {
        Err(Unsupported)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String, Unsupported> {
        Err(Unsupported)
    }
}
