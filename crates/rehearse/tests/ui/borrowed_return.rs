#[rehearse::world]
pub trait World {
    fn name(&self) -> &str;
}

fn main() {}
