//! The plain data that crosses the boundary: slices, owned buffers, opaque handles, errors and
//! the `#[repr(C)]` forms of the backend's argument types. Nothing here is a Rust enum, a
//! trait object or a type whose layout the compiler may change.

use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};

use lossgp_core::backend::{BResult, BackendError, BinaryOp, Conv2d, Pool, ReduceOp, UnaryOp};

/// A borrowed slice: `len` elements at `ptr`, valid for the call it is passed to.
#[repr(C)]
pub struct FfiSlice<T> {
    /// The first element (dangling but aligned when `len` is 0).
    pub ptr: *const T,
    /// The number of elements.
    pub len: usize,
}

impl<T> Clone for FfiSlice<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for FfiSlice<T> {}

impl<T> FfiSlice<T> {
    /// Borrows `slice` for a call.
    pub const fn new(slice: &[T]) -> FfiSlice<T> {
        FfiSlice { ptr: slice.as_ptr(), len: slice.len() }
    }

    /// The slice again.
    ///
    /// # Safety
    ///
    /// `self` was made by [`FfiSlice::new`] from a slice that is alive for `'a`.
    pub unsafe fn as_slice<'a>(self) -> &'a [T] {
        // SAFETY: the caller guarantees that ptr and len describe a live slice (made by `new`,
        // so the pointer is non-null and aligned even when empty).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// A `'static` string of the plugin (its name, its description).
pub type FfiStr = FfiSlice<u8>;

/// A buffer owned by the side that made it, released through its own function: each side may
/// use its own allocator. The receiver copies what it needs and drops it.
#[repr(C)]
pub struct FfiVec<T: Copy> {
    ptr: *mut T,
    len: usize,
    capacity: usize,
    release: unsafe extern "C" fn(*mut T, usize, usize),
}

/// Frees a buffer that [`FfiVec::new`] made from a `Vec` (in the library that made it).
unsafe extern "C" fn release_vec<T>(ptr: *mut T, len: usize, capacity: usize) {
    // SAFETY: ptr, len and capacity are those of a Vec<T> that FfiVec::new took apart in this
    // same library (the function pointer travels with them), and each FfiVec is released once
    // (Drop).
    drop(unsafe { Vec::from_raw_parts(ptr, len, capacity) });
}

impl<T: Copy> FfiVec<T> {
    /// Hands `values` over.
    pub fn new(values: Vec<T>) -> FfiVec<T> {
        let mut values = ManuallyDrop::new(values);
        FfiVec { ptr: values.as_mut_ptr(), len: values.len(), capacity: values.capacity(), release: release_vec::<T> }
    }

    /// The values.
    pub fn as_slice(&self) -> &[T] {
        // SAFETY: ptr and len are those of the Vec taken apart in `new`, alive until Drop.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The values, copied into a `Vec` of this side's allocator.
    pub fn to_vec(&self) -> Vec<T> {
        self.as_slice().to_vec()
    }
}

impl FfiVec<u8> {
    /// Hands a string over.
    pub fn from_string(text: impl Into<String>) -> FfiVec<u8> {
        FfiVec::new(text.into().into_bytes())
    }

    /// The string (invalid UTF-8 replaced).
    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(self.as_slice()).into_owned()
    }
}

impl<T: Copy> Drop for FfiVec<T> {
    fn drop(&mut self) {
        // SAFETY: the release function came with the buffer from the library that made it.
        unsafe { (self.release)(self.ptr, self.len, self.capacity) }
    }
}

/// An opaque handle on a plugin's backend (a `Box` of it on the plugin's side).
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
pub struct BackendHandle(pub *mut c_void);

/// An opaque handle on one of a plugin's tensors (a `Box` of it on the plugin's side); null
/// stands for "none" where an argument or result is optional.
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
pub struct TensorHandle(pub *mut c_void);

impl TensorHandle {
    /// No tensor.
    pub const NULL: TensorHandle = TensorHandle(std::ptr::null_mut());

    /// Whether this stands for no tensor.
    pub fn is_null(self) -> bool {
        self.0.is_null()
    }
}

/// An opaque handle on the gradients of a plugin's `backward`.
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
pub struct GradientsHandle(pub *mut c_void);

/// What a call returns: [`Status::OK`], or which [`BackendError`] (or panic) the error
/// argument then holds.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status(pub u32);

impl Status {
    /// Success: the output argument holds the result.
    pub const OK: Status = Status(0);
    /// [`BackendError::Shape`]: parts are the operation and the detail.
    pub const SHAPE: Status = Status(1);
    /// [`BackendError::Unsupported`]: parts are the backend and what it lacks.
    pub const UNSUPPORTED: Status = Status(2);
    /// [`BackendError::Unknown`]: parts are the kind, the name and the names there are.
    pub const UNKNOWN: Status = Status(3);
    /// [`BackendError::ForeignTensor`]: the first part is the operation.
    pub const FOREIGN_TENSOR: Status = Status(4);
    /// [`BackendError::Device`]: the first part is the message.
    pub const DEVICE: Status = Status(5);
    /// The plugin panicked (caught at the boundary): the first part is the panic's message.
    pub const PANIC: Status = Status(6);
}

/// An error across the boundary: up to three strings, whose meaning the [`Status`] gives.
#[repr(C)]
pub struct FfiError {
    /// The error's fields, in the order [`Status`]'s constants list them; unused ones empty.
    pub parts: [FfiVec<u8>; 3],
}

impl FfiError {
    fn of(parts: [&str; 3]) -> FfiError {
        FfiError { parts: parts.map(FfiVec::from_string) }
    }

    /// A backend's error, with its status.
    pub fn from_backend(error: BackendError) -> (Status, FfiError) {
        match error {
            BackendError::Shape { op, detail } => (Status::SHAPE, FfiError::of([op, &detail, ""])),
            BackendError::Unsupported { backend, what } => (Status::UNSUPPORTED, FfiError::of([&backend, &what, ""])),
            BackendError::Unknown { kind, name, known } => (Status::UNKNOWN, FfiError::of([kind, &name, &known])),
            BackendError::ForeignTensor(op) => (Status::FOREIGN_TENSOR, FfiError::of([&op, "", ""])),
            BackendError::Device(message) => (Status::DEVICE, FfiError::of([&message, "", ""])),
        }
    }

    /// A panic's message.
    pub fn panic(message: &str) -> FfiError {
        FfiError::of([message, "", ""])
    }

    /// The backend error this stands for, given the status that came with it. `op` is the
    /// operation called; `plugin` names the plugin in messages. The host's own error types
    /// hold `'static` names, so the operation and kind named by the plugin are mapped back to
    /// the host's.
    pub fn into_backend(self, status: Status, op: &'static str, plugin: &str) -> BackendError {
        let [a, b, c] = self.parts.each_ref().map(FfiVec::to_string_lossy);
        match status {
            Status::SHAPE => BackendError::Shape { op: crate::list::static_name(&a).unwrap_or(op), detail: b },
            Status::UNSUPPORTED => BackendError::Unsupported { backend: a, what: b },
            Status::UNKNOWN => {
                BackendError::Unknown { kind: if a == "model" { "model" } else { "backend" }, name: b, known: c }
            }
            Status::FOREIGN_TENSOR => BackendError::ForeignTensor(a),
            Status::DEVICE => BackendError::Device(a),
            Status::PANIC => BackendError::Device(format!("the plugin {plugin} panicked in {op}: {a}")),
            Status(other) => BackendError::Device(format!(
                "the plugin {plugin} answered {op} with status {other}, which this ABI version does not define: {a}"
            )),
        }
    }
}

/// Runs the body of an exported function: its error, or a panic caught here, goes into
/// `error` with its status. A panic must not unwind into the host (that would abort it).
pub(crate) fn guard(error: *mut FfiError, body: impl FnOnce() -> BResult<()>) -> Status {
    let (status, err) = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return Status::OK,
        Ok(Err(e)) => FfiError::from_backend(e),
        Err(payload) => {
            let message =
                lossgp_core::panic::message(&*payload).unwrap_or_else(|| "a panic without a message".to_owned());
            discard(payload);
            (Status::PANIC, FfiError::panic(&message))
        }
    };
    // SAFETY: the host passes a pointer to an uninitialised FfiError it owns, and reads it only
    // when the status is not OK.
    unsafe { error.write(err) };
    status
}

/// Drops a panic's payload without letting a second panic (from the payload's own `Drop`)
/// unwind out of an `extern "C"` function: such a payload is leaked instead.
pub(crate) fn discard(payload: Box<dyn std::any::Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(|| drop(payload))) {
        std::mem::forget(again);
    }
}

/// Two sizes, (height, width): the `[usize; 2]` of the backend's arguments.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FfiPair {
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
}

/// [`Conv2d`]'s settings.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FfiConv2d {
    /// Step between windows.
    pub stride: FfiPair,
    /// Zeros added on each side.
    pub padding: FfiPair,
    /// Spacing between kernel elements.
    pub dilation: FfiPair,
    /// Channel groups.
    pub groups: usize,
}

/// `BatchNormMode`: `train` 1 with null statistics, or 0 with the running mean and variance.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct FfiBatchNormMode {
    /// 1: normalise with the batch's statistics; 0: with `mean` and `variance`.
    pub train: u8,
    /// The running mean per channel (null in training).
    pub mean: TensorHandle,
    /// The running variance per channel (null in training).
    pub variance: TensorHandle,
}

/// `BatchNormOutput`: the output, and in training the batch statistics (null otherwise).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct FfiBatchNormOutput {
    /// The normalised input.
    pub output: TensorHandle,
    /// The batch mean (null in evaluation).
    pub mean: TensorHandle,
    /// The batch variance (null in evaluation).
    pub variance: TensorHandle,
}

/// What a plugin's probe says: ready (1) with the device in `detail`, or not (0) with why.
#[repr(C)]
pub struct FfiProbe {
    /// 1 when the backend can run here.
    pub ready: u8,
    /// The device it would use, or what is missing.
    pub detail: FfiVec<u8>,
}

/// A type of the backend's plain arguments (no tensors) and its form across the boundary.
pub trait Plain {
    /// Its `#[repr(C)]` form.
    type Abi: Copy;

    /// Its form across the boundary (borrowing what `self` borrows).
    fn to_abi(&self) -> Self::Abi;
}

/// A plain type the receiving side rebuilds from its form across the boundary. (`&Conv2d` is
/// received as a `Conv2d` and lent.)
pub trait Receive: Plain + Sized {
    /// It again, on the other side; an undefined enum code is an error.
    ///
    /// # Safety
    ///
    /// `abi` was made by [`to_abi`](Plain::to_abi) from a value whose borrows outlive the
    /// result.
    unsafe fn receive(abi: Self::Abi) -> BResult<Self>;
}

/// Numbers cross as they are.
macro_rules! plain_as_is {
    ($($t:ty),*) => {$(
        impl Plain for $t {
            type Abi = $t;
            fn to_abi(&self) -> $t {
                *self
            }
        }

        impl Receive for $t {
            unsafe fn receive(abi: $t) -> BResult<$t> {
                Ok(abi)
            }
        }
    )*};
}

plain_as_is!(u64, usize, f32);

impl<T: Copy> Plain for &[T] {
    type Abi = FfiSlice<T>;
    fn to_abi(&self) -> FfiSlice<T> {
        FfiSlice::new(self)
    }
}

impl<'a, T: Copy> Receive for &'a [T] {
    unsafe fn receive(abi: FfiSlice<T>) -> BResult<&'a [T]> {
        // SAFETY: the caller guarantees `abi` borrows a slice alive for 'a.
        Ok(unsafe { abi.as_slice() })
    }
}

impl Plain for [usize; 2] {
    type Abi = FfiPair;
    fn to_abi(&self) -> FfiPair {
        FfiPair { height: self[0], width: self[1] }
    }
}

impl Receive for [usize; 2] {
    unsafe fn receive(abi: FfiPair) -> BResult<[usize; 2]> {
        Ok([abi.height, abi.width])
    }
}

impl Plain for Conv2d {
    type Abi = FfiConv2d;
    fn to_abi(&self) -> FfiConv2d {
        FfiConv2d {
            stride: self.stride.to_abi(),
            padding: self.padding.to_abi(),
            dilation: self.dilation.to_abi(),
            groups: self.groups,
        }
    }
}

impl Plain for &Conv2d {
    type Abi = FfiConv2d;
    fn to_abi(&self) -> FfiConv2d {
        (**self).to_abi()
    }
}

impl Receive for Conv2d {
    unsafe fn receive(abi: FfiConv2d) -> BResult<Conv2d> {
        let pair = |p: FfiPair| [p.height, p.width];
        Ok(Conv2d {
            stride: pair(abi.stride),
            padding: pair(abi.padding),
            dilation: pair(abi.dilation),
            groups: abi.groups,
        })
    }
}

/// Enums cross as `u32` codes, fixed here for this ABI version. The match from a variant to
/// its code is exhaustive, so a variant added to the core fails to compile until it has a code
/// (and the ABI version is raised).
macro_rules! plain_enum {
    ($t:ident { $($variant:ident = $code:literal),* $(,)? }) => {
        impl Plain for $t {
            type Abi = u32;
            fn to_abi(&self) -> u32 {
                match self {
                    $($t::$variant => $code,)*
                }
            }
        }

        impl Receive for $t {
            unsafe fn receive(abi: u32) -> BResult<$t> {
                match abi {
                    $($code => Ok($t::$variant),)*
                    other => Err(BackendError::Device(format!(
                        "{} code {other} is not defined by this plugin ABI version", stringify!($t)
                    ))),
                }
            }
        }
    };
}

/// Every enum's codes, as one text: part of the ABI's fingerprint.
macro_rules! plain_enums {
    ($($t:ident { $($body:tt)* })*) => {
        $(plain_enum!($t { $($body)* });)*
        pub(crate) const ENUM_CODES: &str = stringify!($($t { $($body)* })*);
    };
}

plain_enums! {
    UnaryOp {
        Neg = 0, Exp = 1, Log = 2, Sqrt = 3, Abs = 4, Sin = 5, Cos = 6, Tanh = 7, Sigmoid = 8, Relu = 9, Recip = 10,
    }
    BinaryOp { Add = 0, Sub = 1, Mul = 2, Div = 3, Max = 4, Min = 5 }
    ReduceOp { Sum = 0, Mean = 1, Max = 2 }
    Pool { Max = 0, Avg = 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code of an enum decodes to the variant it came from, and the codes are distinct.
    fn round_trips<T: Receive<Abi = u32> + PartialEq + std::fmt::Debug + Copy>(all: &[T]) {
        let codes: Vec<u32> = all.iter().map(Plain::to_abi).collect();
        for (v, code) in all.iter().zip(&codes) {
            // SAFETY: a code made by to_abi; no borrows.
            assert_eq!(unsafe { T::receive(*code) }.unwrap(), *v);
        }
        let mut unique = codes.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), codes.len(), "{codes:?}");
        // SAFETY: no borrows; an undefined code is refused, not transmuted.
        let err = unsafe { T::receive(1000) }.unwrap_err().to_string();
        assert!(err.contains("1000"), "{err}");
    }

    #[test]
    fn enums_cross_as_codes_and_back() {
        use BinaryOp as B;
        use UnaryOp as U;
        round_trips(&[U::Neg, U::Exp, U::Log, U::Sqrt, U::Abs, U::Sin, U::Cos, U::Tanh, U::Sigmoid, U::Relu, U::Recip]);
        round_trips(&[B::Add, B::Sub, B::Mul, B::Div, B::Max, B::Min]);
        round_trips(&[ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max]);
        round_trips(&[Pool::Max, Pool::Avg]);
    }

    #[test]
    fn settings_and_buffers_cross_unchanged() {
        let conv = Conv2d { stride: [2, 1], padding: [3, 0], dilation: [1, 4], groups: 8 };
        // SAFETY: no borrows in a Conv2d.
        assert_eq!(unsafe { Conv2d::receive(conv.to_abi()) }.unwrap(), conv);
        let data = [1.5f32, -2.0, 3.25];
        let slice: &[f32] = &data;
        // SAFETY: `data` outlives the result.
        assert_eq!(unsafe { <&[f32]>::receive(slice.to_abi()) }.unwrap(), slice);
        let v = FfiVec::new(vec![4usize, 5, 6]);
        assert_eq!(v.to_vec(), [4, 5, 6]);
        assert_eq!(FfiVec::from_string("ü").to_string_lossy(), "ü");
    }

    #[test]
    fn every_backend_error_crosses_with_its_variant() {
        let cases = [
            BackendError::shape("matmul", "[2, 3] by [4, 5]"),
            BackendError::Unsupported { backend: "x".into(), what: "dilation 2".into() },
            BackendError::Unknown { kind: "model", name: "m".into(), known: "a, b".into() },
            BackendError::ForeignTensor("exp".into()),
            BackendError::Device("out of memory".into()),
        ];
        for error in cases {
            let before = format!("{error:?}");
            let (status, ffi) = FfiError::from_backend(error);
            let after = ffi.into_backend(status, "called", "p.so");
            assert_eq!(format!("{after:?}"), before);
        }
        let panic = FfiError::panic("boom").into_backend(Status::PANIC, "matmul", "p.so").to_string();
        assert_eq!(panic, "the plugin p.so panicked in matmul: boom");
    }

    #[test]
    fn a_panic_in_a_guarded_body_becomes_an_error() {
        let mut error = std::mem::MaybeUninit::<FfiError>::uninit();
        let status = guard(error.as_mut_ptr(), || panic!("index out of bounds"));
        assert_eq!(status, Status::PANIC);
        // SAFETY: guard wrote the error, as the status says.
        let error = unsafe { error.assume_init() };
        assert_eq!(error.parts[0].to_string_lossy(), "index out of bounds");
    }
}
