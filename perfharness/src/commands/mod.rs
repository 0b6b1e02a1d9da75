//! The commands: [`run`] (`full`, `cold`, `warm`, `report`), [`load`],
//! [`power`], [`gate`], [`compare`] and [`parse_logs`].

pub mod compare;
pub mod gate;
pub mod load;
pub mod parse_logs;
pub mod power;
pub mod run;
