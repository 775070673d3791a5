pub mod audit;
pub mod transparency;
