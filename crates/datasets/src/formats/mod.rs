//! The file formats, one module each.

pub mod cifar;
pub mod coco_stuff;
pub mod decode;
pub mod folder;
pub mod idx;
pub mod optdigits;
pub mod voc;
