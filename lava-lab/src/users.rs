//! Users of the API and their tokens.
//!
//! A token's secret is shown once, when it is made; the store keeps only its digest.

use crate::error::Result;
use crate::lab::Lab;
use lava_store::{TokenInfo, User};

impl Lab {
    /// Adds a user.
    pub async fn add_user(&self, username: &str, is_admin: bool, email: &str) -> Result<User> {
        let user = User {
            username: username.to_owned(),
            is_admin,
            email: email.to_owned(),
        };
        self.store().add_user(&user).await?;
        tracing::info!(user = username, is_admin, "user added");
        Ok(user)
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<User>> {
        Ok(self.store().users().await?)
    }

    /// Makes an API token for `username` and returns its secret (the only time it is seen).
    pub async fn add_token(&self, username: &str, description: &str) -> Result<String> {
        let secret = self.random().api_token();
        self.store()
            .add_token(username, &secret, description, self.now())
            .await?;
        tracing::info!(user = username, "API token made");
        Ok(secret)
    }

    /// A user's tokens (without their secrets), oldest first.
    pub async fn tokens(&self, username: &str) -> Result<Vec<TokenInfo>> {
        Ok(self.store().tokens(username).await?)
    }

    /// The user owning `secret`, if it is one of `username`'s tokens.
    pub async fn authenticate(&self, username: &str, secret: &str) -> Result<Option<User>> {
        Ok(self.store().authenticate(username, secret).await?)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::lab;

    #[tokio::test]
    async fn a_token_authenticates_its_user_only() {
        let (_tmp, lab) = lab().await;
        lab.add_user("bob", false, "").await.unwrap();
        lab.add_user("eve", false, "").await.unwrap();
        let secret = lab.add_token("bob", "laptop").await.unwrap();
        assert_eq!(secret.len(), 64);
        let bob = lab.authenticate("bob", &secret).await.unwrap();
        assert_eq!(bob.map(|u| u.username).as_deref(), Some("bob"));
        assert_eq!(lab.authenticate("eve", &secret).await.unwrap(), None);
        assert_eq!(lab.tokens("bob").await.unwrap().len(), 1);
    }
}
