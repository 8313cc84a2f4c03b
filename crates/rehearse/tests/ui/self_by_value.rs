#[rehearse::world]
pub trait World {
    fn close(self) -> bool;
}

fn main() {}
