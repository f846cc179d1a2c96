//! The list of operations, generated from [`lossgp_core::backend_operations!`]: [`Op`] names
//! each by its position in the plugin's function table (capabilities, messages), and `LIST`
//! is the list as text, part of the ABI's fingerprint. The table itself (`ops`) and the
//! boundary's types (`ffi`) both build on it.

/// Defines [`Op`] and `LIST` from the list of operations.
macro_rules! define_list {
    ($( $(#[$doc:meta])* fn $op:ident($($arg:ident: $kind:ident $([$($ty:tt)*])?),* $(,)?) -> $ret:ident; )*) => {
        /// The list of operations as text (names, argument and result kinds, in order): part
        /// of the ABI's fingerprint.
        pub(crate) const LIST: &str = stringify!($( fn $op($($arg: $kind $([$($ty)*])?),*) -> $ret; )*);

        /// An operation of the table, by its position in it.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum Op {
            $( #[doc = concat!("[`Backend::", stringify!($op), "`](lossgp_core::backend::Backend::", stringify!($op), ")")] $op, )*
        }

        impl Op {
            /// Every operation, in the table's order.
            pub const ALL: &'static [Op] = &[$(Op::$op,)*];

            /// The operation's name, as the `Backend` method's.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Op::$op => stringify!($op),)*
                }
            }
        }
    };
}

lossgp_core::backend_operations!(define_list);

/// The number of operations in the table.
pub const OP_COUNT: u32 = Op::ALL.len() as u32;

/// The host's `'static` name of an operation a plugin named in an error.
pub(crate) fn static_name(name: &str) -> Option<&'static str> {
    Op::ALL.iter().map(|op| op.name()).find(|n| *n == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_are_named_in_the_lists_order() {
        assert_eq!(Op::ALL[0].name(), "name");
        assert_eq!(Op::matmul.name(), "matmul");
        assert_eq!(static_name("conv2d"), Some("conv2d"));
        assert_eq!(static_name("nope"), None);
    }
}
