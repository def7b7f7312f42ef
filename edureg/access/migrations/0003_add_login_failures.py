from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('access', '0002_add_user_must_change_password'),
    ]

    operations = [
        migrations.CreateModel(
            name='LoginFailure',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('account', 'tài khoản'), ('address', 'địa chỉ')], max_length=10)),
                ('key_hash', models.CharField(max_length=64)),
                ('occurred_at', models.DateTimeField()),
            ],
            options={
                'indexes': [models.Index(fields=['kind', 'key_hash', 'occurred_at'], name='access_logi_kind_5c9874_idx')],
            },
        ),
    ]
