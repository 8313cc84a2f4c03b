#[rehearse::world]
pub trait World {
    fn connect(url: String) -> bool;
}

fn main() {}
