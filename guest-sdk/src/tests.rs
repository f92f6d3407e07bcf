//! Native tests of the code `#[task]` generates and of `run_task`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;

use rmpv::Value;

use crate::__private::{Output, TaskSpec, plain, run_task, short_type_name};
use crate::abi::{Arena, call_with_arena};
use crate::serde_bytes::ByteBuf;
use crate::task;

// ---- allocation counting, per thread --------------------------------------------

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to `System`; the counter is a const-initialised thread local.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: same contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

// ---- tasks ----------------------------------------------------------------------

#[task]
fn noop() {}

#[task]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[task(name = "sum_list")]
fn sum(values: Vec<i64>) -> i64 {
    values.iter().sum()
}

#[task]
#[allow(clippy::unused_unit)] // an explicit `()` return must work too
fn unit(_value: u8) -> () {}

#[task]
fn parse_int(text: String) -> Result<i64, std::num::ParseIntError> {
    text.parse()
}

#[derive(Debug)]
struct DivisionByZero;

impl fmt::Display for DivisionByZero {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("division by zero")
    }
}

#[task]
fn divide(a: i64, b: i64) -> Result<i64, DivisionByZero> {
    if b == 0 {
        Err(DivisionByZero)
    } else {
        Ok(a / b)
    }
}

#[task]
fn io_result(fail: bool) -> std::io::Result<u8> {
    if fail {
        Err(std::io::Error::other("nope"))
    } else {
        Ok(1)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Point {
    x: i32,
    y: i32,
}

#[task]
fn mirror(point: Point, label: Option<String>) -> (Point, Option<String>) {
    (
        Point {
            x: point.y,
            y: point.x,
        },
        label,
    )
}

#[task]
fn reverse_bytes(data: ByteBuf) -> ByteBuf {
    let mut data = data.into_vec();
    data.reverse();
    ByteBuf::from(data)
}

#[task]
fn r#type(r#in: u8) -> u8 {
    r#in
}

#[task]
fn counts(text: String) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word.to_owned()).or_default() += 1;
    }
    counts
}

// ---- helpers --------------------------------------------------------------------

fn input(args: Vec<Value>, kwargs: Vec<(&str, Value)>) -> Vec<u8> {
    let kwargs = kwargs.into_iter().map(|(k, v)| (k.into(), v)).collect();
    let mut bytes = Vec::new();
    rmpv::encode::write_value(
        &mut bytes,
        &Value::Array(vec![Value::Array(args), Value::Map(kwargs)]),
    )
    .unwrap();
    bytes
}

fn decode(mut bytes: &[u8]) -> Value {
    let value = rmpv::decode::read_value(&mut bytes).unwrap();
    assert!(bytes.is_empty(), "trailing bytes after the envelope");
    value
}

fn call(shim: fn(&[u8], &mut dyn Output), input: &[u8]) -> Value {
    let mut out = Vec::new();
    shim(input, &mut out);
    decode(&out)
}

fn entry<'v>(envelope: &'v Value, key: &str) -> Option<&'v Value> {
    let map = envelope.as_map().expect("the envelope is a map");
    assert_eq!(
        map.len(),
        1,
        "the envelope has exactly one entry: {envelope}"
    );
    (map[0].0.as_str() == Some(key)).then_some(&map[0].1)
}

#[track_caller]
fn ok(envelope: Value) -> Value {
    match entry(&envelope, "ok") {
        Some(value) => value.clone(),
        None => panic!("expected ok, got {envelope}"),
    }
}

/// (type, message); checks the traceback is nil.
#[track_caller]
fn err(envelope: Value) -> (String, String) {
    let Some(err) = entry(&envelope, "err") else {
        panic!("expected err, got {envelope}");
    };
    let field = |name: &str| {
        err.as_map()
            .unwrap()
            .iter()
            .find(|(k, _)| k.as_str() == Some(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} in {err}"))
    };
    assert_eq!(err.as_map().unwrap().len(), 3);
    assert_eq!(field("traceback"), Value::Nil);
    (
        field("type").as_str().unwrap().to_owned(),
        field("message").as_str().unwrap().to_owned(),
    )
}

// ---- arguments ------------------------------------------------------------------

#[test]
fn positional_args() {
    let out = call(
        __wasmtaps_task_add::call,
        &input(vec![1.into(), 2.into()], vec![]),
    );
    assert_eq!(ok(out), Value::from(3));
    // The function itself is unchanged.
    assert_eq!(add(2, 2), 4);
}

#[test]
fn kwargs_by_name_in_any_order() {
    let out = call(
        __wasmtaps_task_add::call,
        &input(vec![], vec![("b", 10.into()), ("a", 1.into())]),
    );
    assert_eq!(ok(out), Value::from(11));
    let out = call(
        __wasmtaps_task_add::call,
        &input(vec![5.into()], vec![("b", 10.into())]),
    );
    assert_eq!(ok(out), Value::from(15));
}

#[test]
fn raw_identifiers_are_named_without_r_hash() {
    let out = call(
        __wasmtaps_task_type::call,
        &input(vec![], vec![("in", 7.into())]),
    );
    assert_eq!(ok(out), Value::from(7));
}

#[test]
fn wrong_arg_count() {
    let (ty, message) = err(call(
        __wasmtaps_task_add::call,
        &input(vec![1.into(), 2.into(), 3.into()], vec![]),
    ));
    assert_eq!(ty, "ArgumentError");
    assert_eq!(
        message,
        "add() takes 2 positional arguments but 3 were given"
    );

    let (ty, message) = err(call(
        __wasmtaps_task_add::call,
        &input(vec![1.into()], vec![]),
    ));
    assert_eq!(ty, "ArgumentError");
    assert_eq!(message, "add() missing 1 required argument: 'b'");

    let (_, message) = err(call(__wasmtaps_task_add::call, &input(vec![], vec![])));
    assert_eq!(message, "add() missing 2 required arguments: 'a', 'b'");

    let (_, message) = err(call(
        __wasmtaps_task_noop::call,
        &input(vec![1.into()], vec![]),
    ));
    assert_eq!(
        message,
        "noop() takes 0 positional arguments but 1 were given"
    );
}

#[test]
fn unknown_and_duplicate_kwargs() {
    let (ty, message) = err(call(
        __wasmtaps_task_add::call,
        &input(vec![1.into(), 2.into()], vec![("c", 3.into())]),
    ));
    assert_eq!(ty, "ArgumentError");
    assert_eq!(message, "add() got an unexpected keyword argument 'c'");

    let (_, message) = err(call(
        __wasmtaps_task_add::call,
        &input(vec![1.into()], vec![("a", 3.into()), ("b", 3.into())]),
    ));
    assert_eq!(message, "add() got multiple values for argument 'a'");

    let (_, message) = err(call(
        __wasmtaps_task_add::call,
        &input(
            vec![],
            vec![("a", 1.into()), ("b", 2.into()), ("a", 3.into())],
        ),
    ));
    assert_eq!(
        message,
        "add() got multiple values for keyword argument 'a'"
    );

    let mut bytes = vec![0x92, 0x91, 0x01, 0x81, 0x01, 0x02];
    let (_, message) = err(call(__wasmtaps_task_add::call, &bytes));
    assert_eq!(message, "add(): keyword argument names must be strings");
    bytes.truncate(4);
    let (_, message) = err(call(__wasmtaps_task_add::call, &bytes));
    assert!(
        message.starts_with("add(): malformed arguments"),
        "{message}"
    );
}

#[test]
fn wrong_type_names_the_parameter() {
    let (ty, message) = err(call(
        __wasmtaps_task_add::call,
        &input(vec![1.into(), "two".into()], vec![]),
    ));
    assert_eq!(ty, "ArgumentError");
    assert!(
        message == "add() argument 'b' (parameter 2): invalid type: string, expected i64",
        "{message}"
    );

    let (_, message) = err(call(
        __wasmtaps_task_unit::call,
        &input(vec![], vec![("_value", 300.into())]),
    ));
    assert_eq!(
        message,
        "unit() argument '_value' (parameter 1): invalid value: integer `300`, expected u8"
    );
    let (_, message) = err(call(
        __wasmtaps_task_sum::call,
        &input(vec![vec![Value::from(1), "x".into()].into()], vec![]),
    ));
    assert_eq!(
        message,
        "sum_list() argument 'values' (parameter 1): invalid type: string inside the array, \
         expected Vec<i64>"
    );
}

#[test]
fn malformed_envelopes() {
    for bytes in [
        &[][..],
        &[0xc0],
        &[0x91, 0x90],
        &[0x93, 0x90, 0x80, 0xc0],
        &[0x92, 0x80, 0x90],
        &[0x92, 0x90, 0x80, 0x00],
        &[0x92, 0x91, 0xc1, 0x80],
    ] {
        let (ty, message) = err(call(__wasmtaps_task_noop::call, bytes));
        assert_eq!(ty, "ArgumentError");
        assert!(
            message.starts_with("noop(): malformed arguments"),
            "{message}"
        );
    }
}

// ---- results --------------------------------------------------------------------

#[test]
fn unit_returns_nil() {
    let out = call(__wasmtaps_task_noop::call, &input(vec![], vec![]));
    assert_eq!(ok(out), Value::Nil);
    let out = call(__wasmtaps_task_unit::call, &input(vec![1.into()], vec![]));
    assert_eq!(ok(out), Value::Nil);
}

#[test]
fn plain_values() {
    let out = call(
        __wasmtaps_task_sum::call,
        &input(
            vec![vec![Value::from(1), 2.into(), 3.into()].into()],
            vec![],
        ),
    );
    assert_eq!(ok(out), Value::from(6));

    let out = call(
        __wasmtaps_task_counts::call,
        &input(vec!["a b a".into()], vec![]),
    );
    assert_eq!(
        ok(out),
        Value::Map(vec![("a".into(), 2.into()), ("b".into(), 1.into())])
    );

    // Structs are accepted as maps and sent as maps.
    let point = Value::Map(vec![("x".into(), 1.into()), ("y".into(), 2.into())]);
    let out = call(
        __wasmtaps_task_mirror::call,
        &input(vec![point, Value::Nil], vec![]),
    );
    assert_eq!(
        ok(out),
        Value::Array(vec![
            Value::Map(vec![("x".into(), 2.into()), ("y".into(), 1.into())]),
            Value::Nil
        ])
    );
}

#[test]
fn bytes_travel_as_bin() {
    let out = call(
        __wasmtaps_task_reverse_bytes::call,
        &input(vec![Value::Binary(vec![1, 2, 3])], vec![]),
    );
    assert_eq!(ok(out), Value::Binary(vec![3, 2, 1]));
}

#[test]
fn ok_and_err_results() {
    let out = call(
        __wasmtaps_task_parse_int::call,
        &input(vec!["42".into()], vec![]),
    );
    assert_eq!(ok(out), Value::from(42));

    let (ty, message) = err(call(
        __wasmtaps_task_parse_int::call,
        &input(vec!["x".into()], vec![]),
    ));
    assert_eq!(ty, "ParseIntError");
    assert_eq!(message, "invalid digit found in string");

    let (ty, message) = err(call(
        __wasmtaps_task_divide::call,
        &input(vec![1.into(), 0.into()], vec![]),
    ));
    assert_eq!(
        (ty.as_str(), message.as_str()),
        ("DivisionByZero", "division by zero")
    );

    let (ty, message) = err(call(
        __wasmtaps_task_io_result::call,
        &input(vec![true.into()], vec![]),
    ));
    assert_eq!((ty.as_str(), message.as_str()), ("Error", "nope"));
}

#[test]
fn run_task_directly() {
    static SPEC: TaskSpec = TaskSpec {
        name: "pair",
        params: &["x", "y"],
    };
    let mut out = vec![0xff; 3]; // stale bytes are discarded
    let args = input(vec![1.into()], vec![("y", "s".into())]);
    run_task(&args, &SPEC, &mut out, |args, reply| {
        let x: u8 = args.next_param()?;
        let y: String = args.next_param()?;
        Ok(plain(reply, (x, y)))
    });
    assert_eq!(ok(decode(&out)), Value::Array(vec![1.into(), "s".into()]));
}

#[test]
fn short_type_names() {
    assert_eq!(
        short_type_name::<std::num::ParseIntError>(),
        "ParseIntError"
    );
    assert_eq!(short_type_name::<Vec<std::io::Error>>(), "Vec");
    assert_eq!(short_type_name::<DivisionByZero>(), "DivisionByZero");
    assert_eq!(short_type_name::<String>(), "String");
}

// ---- through the arena, as the export does -------------------------------------

#[test]
fn noop_and_add_do_not_allocate() {
    let arena = Arena::<4096>::new();
    let noop_input = input(vec![], vec![]);
    let add_input = input(vec![1.into(), 2.into()], vec![]);
    let mut results = Vec::with_capacity(2);
    let count = allocations_in(|| {
        results.push(call_with_arena(
            &arena,
            &noop_input,
            __wasmtaps_task_noop::call,
        ));
        results.push(call_with_arena(
            &arena,
            &add_input,
            __wasmtaps_task_add::call,
        ));
    });
    assert_eq!(count, 0, "a no-op call allocated");
    // SAFETY: results of `finish` live in `arena`, which is still alive.
    let bytes = |(ptr, len)| unsafe { std::slice::from_raw_parts(ptr, len) };
    assert_eq!(bytes(results[0]), &[0x81, 0xa2, b'o', b'k', 0xc0]);
    assert_eq!(bytes(results[1]), &[0x81, 0xa2, b'o', b'k', 0x03]);
}

#[test]
fn large_results_spill_to_the_heap() {
    let arena = Arena::<64>::new();
    let data = Value::Binary((0..=255).collect());
    let (ptr, len) = call_with_arena(
        &arena,
        &input(vec![data], vec![]),
        __wasmtaps_task_reverse_bytes::call,
    );
    // SAFETY: the spilled result was leaked.
    let out = decode(unsafe { std::slice::from_raw_parts(ptr, len) });
    assert_eq!(ok(out), Value::Binary((0..=255).rev().collect()));
}

struct Unencodable;

impl serde::Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("refused"))
    }
}

#[task]
fn unencodable() -> Vec<Unencodable> {
    vec![Unencodable]
}

#[test]
fn unserializable_results_become_errors() {
    let (ty, message) = err(call(
        __wasmtaps_task_unencodable::call,
        &input(vec![], vec![]),
    ));
    assert_eq!(ty, "SerializationError");
    assert_eq!(message, "unencodable(): cannot encode the result: refused");
}

// ---- borrowing arguments and in-place results ------------------------------------

thread_local! {
    /// Where the last borrowing task saw its arguments and wrote its result.
    static SEEN: Cell<[usize; 3]> = const { Cell::new([0; 3]) };
}

#[task]
fn borrowed(data: &[u8], text: &str, bytes: &crate::serde_bytes::Bytes) -> usize {
    SEEN.with(|seen| {
        seen.set([
            data.as_ptr() as usize,
            text.as_ptr() as usize,
            bytes.as_ptr() as usize,
        ])
    });
    data.len() + text.len() + bytes.len()
}

#[task]
fn reverse_in_place(data: &[u8]) -> crate::ResultBytes {
    let mut out = crate::ResultBytes::zeroed(data.len());
    for (to, from) in out.iter_mut().zip(data.iter().rev()) {
        *to = *from;
    }
    SEEN.with(|seen| seen.set([out.as_ptr() as usize, 0, 0]));
    out
}

#[task]
fn maybe_bytes(fail: bool) -> Result<crate::ResultBytes, DivisionByZero> {
    if fail {
        Err(DivisionByZero)
    } else {
        Ok(crate::ResultBytes::from(&b"abc"[..]))
    }
}

/// The offset of `inner` in `outer`, which must contain it.
fn offset_in(outer: &[u8], inner: usize) -> usize {
    let start = outer.as_ptr() as usize;
    assert!(
        (start..start + outer.len()).contains(&inner),
        "the task did not see a pointer into the argument buffer"
    );
    inner - start
}

#[test]
fn borrowed_parameters_point_into_the_argument_buffer() {
    let args = input(
        vec![
            Value::Binary(vec![7; 300]),
            "héllo".into(),
            Value::Binary(vec![1, 2]),
        ],
        vec![],
    );
    let arena = Arena::<4096>::new();
    let mut result = (std::ptr::null(), 0);
    let count = allocations_in(|| {
        result = call_with_arena(&arena, &args, __wasmtaps_task_borrowed::call);
    });
    assert_eq!(count, 0, "a borrowing call allocated");
    // SAFETY: the result lives in `arena`, which is still alive.
    let out = decode(unsafe { std::slice::from_raw_parts(result.0, result.1) });
    assert_eq!(ok(out), Value::from(300 + "héllo".len() + 2));
    let [data, text, bytes] = SEEN.with(Cell::get);
    // [[bin8 300 …, "héllo", bin8 2 …], {}]: each value right after its header.
    assert_eq!(offset_in(&args, data), 2 + 3);
    assert_eq!(offset_in(&args, text), 2 + 3 + 300 + 1);
    assert_eq!(offset_in(&args, bytes), 2 + 3 + 300 + 1 + 6 + 2);
    // By name too.
    let by_name = input(
        vec![],
        vec![
            ("bytes", Value::Binary(vec![1])),
            ("text", "t".into()),
            ("data", Value::Binary(vec![])),
        ],
    );
    assert_eq!(ok(call(__wasmtaps_task_borrowed::call, &by_name)), 2.into());
}

#[test]
fn borrowed_parameters_refuse_hostile_shapes() {
    // A bin that declares more bytes than the buffer holds: refused before any decode.
    let mut truncated = vec![0x92, 0x93, 0xc6, 0x00, 0x10, 0x00, 0x00];
    truncated.extend_from_slice(&[0; 16]);
    let (ty, message) = err(call(__wasmtaps_task_borrowed::call, &truncated));
    assert_eq!(ty, "ArgumentError");
    assert!(
        message.starts_with("borrowed(): malformed arguments: unexpected end of input"),
        "{message}"
    );
    // A value of another kind where bytes are expected names the parameter.
    let wrong = |args: Vec<Value>| err(call(__wasmtaps_task_borrowed::call, &input(args, vec![])));
    let (ty, message) = wrong(vec![
        Value::Array(vec![1.into(), 2.into()]),
        "t".into(),
        Value::Binary(vec![]),
    ]);
    assert_eq!(ty, "ArgumentError");
    assert!(
        message.starts_with("borrowed() argument 'data' (parameter 1): invalid type: sequence")
            && message.ends_with("an owned type such as `ByteBuf` or `String` accepts more)"),
        "{message}"
    );
    let (_, message) = wrong(vec![Value::Binary(vec![]), 5.into(), Value::Binary(vec![])]);
    assert!(
        message.starts_with("borrowed() argument 'text' (parameter 2): invalid type: integer"),
        "{message}"
    );
    // Invalid UTF-8 for `&str`.
    let mut bad_text = input(
        vec![Value::Binary(vec![]), "ab".into(), Value::Binary(vec![])],
        vec![],
    );
    let at = bad_text.iter().position(|&b| b == b'a').unwrap();
    bad_text[at] = 0xff;
    let (_, message) = err(call(__wasmtaps_task_borrowed::call, &bad_text));
    assert!(
        message.starts_with("borrowed() argument 'text' (parameter 2)"),
        "{message}"
    );
}

#[test]
fn result_bytes_become_the_envelope_without_a_copy() {
    let arena = Arena::<64>::new();
    let data: Vec<u8> = (0..=255).collect();
    let (ptr, len) = call_with_arena(
        &arena,
        &input(vec![Value::Binary(data.clone())], vec![]),
        __wasmtaps_task_reverse_in_place::call,
    );
    // SAFETY: the adopted envelope was leaked.
    let envelope = unsafe { std::slice::from_raw_parts(ptr, len) };
    assert_eq!(&envelope[..9], &[0x81, 0xa2, b'o', b'k', 0xc6, 0, 0, 1, 0]);
    assert_eq!(
        ok(decode(envelope)),
        Value::Binary(data.iter().rev().copied().collect())
    );
    let [written, ..] = SEEN.with(Cell::get);
    assert_eq!(written, ptr as usize + 9, "the result was copied");

    // In a `Result`, and its error.
    let out = call(
        __wasmtaps_task_maybe_bytes::call,
        &input(vec![false.into()], vec![]),
    );
    assert_eq!(ok(out), Value::Binary(b"abc".to_vec()));
    let (ty, _) = err(call(
        __wasmtaps_task_maybe_bytes::call,
        &input(vec![true.into()], vec![]),
    ));
    assert_eq!(ty, "DivisionByZero");
}

#[test]
fn result_bytes_is_a_byte_buffer() {
    use std::io::Write;
    let mut out = crate::ResultBytes::with_capacity(4);
    assert!(out.is_empty());
    out.push(1);
    out.extend_from_slice(&[2, 3]);
    out.extend([4u8]);
    write!(out, "5").unwrap();
    assert_eq!(&out[..], [1, 2, 3, 4, b'5']);
    out[0] = 9;
    out.truncate(2);
    assert_eq!(out.clone().into_vec(), [9, 2]);
    assert_eq!(crate::ResultBytes::zeroed(3).into_vec(), [0; 3]);
    assert_eq!(
        crate::ResultBytes::from_iter([1u8, 2]),
        crate::ResultBytes::from(&[1u8, 2][..])
    );
    assert_eq!(format!("{out:?}"), "ResultBytes([9, 2])");
}
