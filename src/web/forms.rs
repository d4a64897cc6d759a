//! Messages shown next to form fields.

#[derive(Debug, Default)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push((field, message.into()));
    }

    /// Keeps the checked value, or records the message under `field`.
    pub fn check(&mut self, field: &'static str, checked: Result<String, &'static str>) -> String {
        checked.unwrap_or_else(|message| {
            self.add(field, message);
            String::new()
        })
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
