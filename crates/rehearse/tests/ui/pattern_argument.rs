#[rehearse::world]
pub trait World {
    fn put(&self, (a, b): (u8, u8)) -> bool;
}

fn main() {}
