//! Dataset loaders for lossgp (Fashion-MNIST, CIFAR-10/100, image folders, Pascal VOC,
//! COCO-Stuff), implementing `lossgp-core`'s dataset interface.
