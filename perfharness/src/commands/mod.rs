//! The commands: [`run`] (`full`, `cold`, `warm`, `report`), [`load`],
//! [`power`], [`gate`] and [`parse_logs`].

pub mod gate;
pub mod load;
pub mod parse_logs;
pub mod power;
pub mod run;
